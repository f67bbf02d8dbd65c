fn main() {
    tune_malloc();
    std::process::exit(qfix::cli::main());
}

/// glibc grows a thread's heap a page or two at a time, each growth an mprotect (700 of
/// them on a busy host's nginx scan, each a TLB flush across the process's CPUs). Asking
/// for 8 MiB of slack per growth makes that a handful; untouched slack costs no memory.
/// The main heap's slack is then backed by huge pages (see `qfix::heap`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts
    unsafe {
        nix::libc::mallopt(nix::libc::M_TOP_PAD, 8 << 20);
    }
    qfix::heap::main_heap();
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
