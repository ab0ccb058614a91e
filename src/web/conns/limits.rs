//! The process's open-file limit, and the dashboard's connection cap that follows from it.

/// Raises this process's open-file limit to its hard limit (as nginx and Go do), so the
/// engines and the dashboard have all the descriptors the system allows; returns the limit
/// now in force.
pub fn raise_open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                }
            }
        }
        // rlim_t is u64 on Linux, but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// The open-file limit in force now.
pub fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we own. (rlim_t is u64 on Linux, not everywhere.)
        #[allow(clippy::unnecessary_cast)]
        (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0)
            .then_some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// The dashboard's connection cap: `--max-http-connections`, but never more than half the
/// open-file limit (the other half is the engines' and the files').
pub fn http_cap(flag: usize) -> usize {
    match open_files_limit() {
        Some(n) => flag.min((n / 2).max(16) as usize),
        None => flag,
    }
}
