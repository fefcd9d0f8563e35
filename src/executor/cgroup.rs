//! A cgroup v2 of the job's own, where the host lets the runner's user make one: a child of the
//! cgroup the Runner runs the driver in (`/proc/self/cgroup`'s `0::` line, under the `cgroup2`
//! mount of `/proc/self/mountinfo`), named after the job's mark. Every `run` stage moves itself
//! into it before starting its script, so the script and everything it starts are in it and
//! stay in it: no `setsid`, no double fork and no emptied environment leaves a cgroup, and only
//! a process that may write to a cgroup's `cgroup.procs` can move itself out. Cleanup ends
//! everything in it at once (`cgroup.kill`, Linux 5.14 on) and removes it.
//!
//! Moving a process needs write access to `cgroup.procs` of the destination and of the common
//! ancestor (`Documentation/admin-guide/cgroup-v2.rst`, "Delegation Containment"): root has it;
//! a runner's own user has it in a cgroup delegated to it (systemd's `Delegate=yes`). Elsewhere
//! the job has no cgroup, and cleanup finds its processes by their mark (`mark`) alone. No
//! controller is enabled, so the cgroup changes nothing of how the job runs.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// The most cgroups (the job's and those made inside it) looked at or removed.
const MAX_CGROUPS: usize = 1024;
/// The largest `cgroup.procs`, `/proc/self/cgroup` or `/proc/self/mountinfo` read.
const MAX_LIST: usize = 4 << 20;

/// Why the job has no cgroup of its own.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CgroupError {
    #[error("no cgroup v2 hierarchy is mounted")]
    NoHierarchy,
    #[error("this process is in no cgroup v2 under {}", mount.display())]
    NotUnder { mount: PathBuf },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The job's cgroup: a directory of a cgroup v2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    /// The name of the cgroup of the job marked `mark`: unique, as the mark is.
    pub(crate) fn name(mark: &str) -> String {
        format!("loadforge-gate-job-{mark}")
    }

    /// Makes the cgroup `name` as a child of this process's own cgroup.
    pub(crate) fn create(name: &str) -> Result<Cgroup, CgroupError> {
        let (mount, root) = mounts()
            .into_iter()
            .next()
            .ok_or(CgroupError::NoHierarchy)?;
        let own = own_path().ok_or_else(|| CgroupError::NotUnder {
            mount: mount.clone(),
        })?;
        let relative = own
            .strip_prefix(&root)
            .map_err(|_| CgroupError::NotUnder {
                mount: mount.clone(),
            })?
            .to_path_buf();
        let dir = mount.join(relative).join(name);
        std::fs::create_dir(&dir).map_err(|source| CgroupError::Io {
            action: "create the cgroup",
            path: dir.clone(),
            source,
        })?;
        Ok(Cgroup { dir })
    }

    /// The cgroup recorded at `path`, when it is one: a directory named `name` inside a cgroup
    /// v2 mount. Anything else is no cgroup of the job's.
    pub(crate) fn open(path: &Path, name: &str) -> Option<Cgroup> {
        let inside = mounts()
            .iter()
            .any(|(mount, _)| path.starts_with(mount) && path != mount);
        let named = path.file_name().is_some_and(|n| n == name);
        let real = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
            && path.join("cgroup.procs").is_file();
        (path.is_absolute() && inside && named && real).then(|| Cgroup {
            dir: path.to_path_buf(),
        })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves process `pid` (all its threads) into the cgroup: what it starts from now on
    /// starts in it.
    pub(crate) fn add(&self, pid: u32) -> Result<(), CgroupError> {
        let procs = self.dir.join("cgroup.procs");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&procs)
            .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
            .map_err(|source| CgroupError::Io {
                action: "move a process into",
                path: procs,
                source,
            })
    }

    /// The processes in the cgroup and in every cgroup made inside it.
    pub(crate) fn members(&self) -> Vec<i32> {
        self.tree()
            .iter()
            .filter_map(|dir| std::fs::File::open(dir.join("cgroup.procs")).ok())
            .filter_map(|f| crate::capped::read_capped(f, MAX_LIST).ok().flatten())
            .flat_map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// SIGKILLs every process in the cgroup and inside it at once, none able to fork away
    /// meanwhile; false on a kernel without `cgroup.kill` (before 5.14).
    pub(crate) fn kill(&self) -> bool {
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.kill"))
            .and_then(|mut f| f.write_all(b"1"))
            .is_ok()
    }

    /// Removes the cgroup, the cgroups made inside it first; a cgroup gone already is fine.
    /// Only an empty cgroup can be removed.
    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        for dir in self.tree().iter().rev() {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CgroupError::Io {
                        action: "remove the cgroup",
                        path: dir.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// The cgroup and the cgroups inside it, each after its parent, at most [`MAX_CGROUPS`].
    fn tree(&self) -> Vec<PathBuf> {
        let mut out = vec![self.dir.clone()];
        let mut next = 0;
        while next < out.len() && out.len() < MAX_CGROUPS {
            let Ok(entries) = std::fs::read_dir(&out[next]) else {
                next += 1;
                continue;
            };
            next += 1;
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) && out.len() < MAX_CGROUPS {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

/// The cgroup v2 mounts of this process's mount namespace: each one's mount point and the
/// cgroup path its root is (`/` unless mounted from inside a cgroup namespace).
fn mounts() -> Vec<(PathBuf, PathBuf)> {
    read_small("/proc/self/mountinfo")
        .map(|text| text.lines().filter_map(cgroup2_mount).collect())
        .unwrap_or_default()
}

/// A `/proc/self/mountinfo` line's mount point and root, when it mounts cgroup v2: `ID PARENT
/// MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`
/// (`Documentation/filesystems/proc.rst`), paths with `\ooo` escapes.
fn cgroup2_mount(line: &str) -> Option<(PathBuf, PathBuf)> {
    let fields: Vec<&str> = line.split(' ').collect();
    let dash = fields.iter().position(|f| *f == "-")?;
    (fields.get(dash + 1) == Some(&"cgroup2")).then_some(())?;
    Some((
        PathBuf::from(unescape(fields.get(4)?)),
        PathBuf::from(unescape(fields.get(3)?)),
    ))
}

/// A mountinfo path with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroup v2 path (the `0::` line of `/proc/self/cgroup`).
fn own_path() -> Option<PathBuf> {
    let text = read_small("/proc/self/cgroup")?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    path.starts_with('/').then(|| PathBuf::from(path))
}

fn read_small(path: &str) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let bytes = crate::capped::read_capped(f, MAX_LIST).ok()??;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{cgroup2_mount, unescape, Cgroup};

    #[test]
    fn cgroup2_mounts_are_read_from_mountinfo_lines() {
        let line = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(line),
            Some((PathBuf::from("/sys/fs/cgroup/unified"), PathBuf::from("/")))
        );
        let tagged =
            "30 25 0:26 /ns /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup rw";
        assert_eq!(
            cgroup2_mount(tagged),
            Some((PathBuf::from("/sys/fs/cgroup"), PathBuf::from("/ns")))
        );
        let v1 = "35 31 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu";
        assert_eq!(cgroup2_mount(v1), None);
        assert_eq!(cgroup2_mount("garbage"), None);
        assert_eq!(unescape(r"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(unescape(r"/odd\09"), r"/odd\09");
    }

    #[test]
    fn a_recorded_cgroup_outside_a_cgroup2_mount_or_misnamed_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let name = Cgroup::name("7.abc");
        let fake = dir.path().join(&name);
        std::fs::create_dir(&fake).unwrap();
        std::fs::write(fake.join("cgroup.procs"), "1\n").unwrap();
        assert_eq!(Cgroup::open(&fake, &name), None, "not a cgroup");
        assert_eq!(Cgroup::open(std::path::Path::new("/"), &name), None);
    }

    /// Where this host lets the test make a cgroup (root, or a delegated one): a process moved
    /// into it is a member, `kill` ends it, and the empty cgroup is removed.
    #[test]
    fn a_process_in_the_jobs_cgroup_is_a_member_until_killed() {
        let name = Cgroup::name(&format!("unit.{:032x}", rand::random::<u128>()));
        let cg = match Cgroup::create(&name) {
            Ok(cg) => cg,
            Err(e) => {
                eprintln!("SKIPPED: no cgroup here: {e}");
                return;
            }
        };
        assert_eq!(Cgroup::open(cg.path(), &name), Some(cg.clone()));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let added = cg.add(child.id());
        let members = cg.members();
        let killed = cg.kill();
        if !killed {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        let removed = cg.remove();
        added.unwrap();
        assert_eq!(members, [i32::try_from(child.id()).unwrap()]);
        assert!(killed, "cgroup.kill");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        removed.unwrap();
        assert!(!cg.path().exists());
    }
}
