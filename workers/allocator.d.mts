export declare const MALLOC_TUNABLES: Readonly<Record<string, string>>;
export declare const TF_ALLOCATOR: Readonly<Record<string, string>>;
export declare function allocatorEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function relaunchWithAllocator(): boolean;
