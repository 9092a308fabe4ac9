#pragma once
/// Process-wide allocator settings for inference workloads.

namespace sdw {

/// Keeps freed memory in the process instead of returning it to the kernel. Sampling allocates
/// and frees the same large activations every step; given back, each one is faulted in again
/// page by page, which on virtual machines costs more than the arithmetic (5–10× per UNet step
/// measured on a 2-core VM). Call once, first thing in main().
void keep_freed_memory();

} // namespace sdw
