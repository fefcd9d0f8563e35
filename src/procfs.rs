//! The two `/proc` lines that both the executor's quietness check and the engine's generator
//! health read: a CPU line of `/proc/stat` and a process's `/proc/PID/stat`. Pure parsing of
//! text the kernel wrote; a leaf, so the driver and the engines share it without importing
//! each other.

/// The first eight fields of a `/proc/stat` CPU line (`cpu` for all CPUs, `cpuN` for one), in
/// ticks: user nice system idle iowait irq softirq steal. Guest time is already counted in
/// user time and is left out. `None` for a line of fewer fields.
pub(crate) fn cpu_fields(line: &str) -> Option<[u64; 8]> {
    let mut fields = [0u64; 8];
    let mut values = line.split_whitespace().skip(1);
    for f in &mut fields {
        *f = values.next()?.parse().ok()?;
    }
    Some(fields)
}

/// The all-CPU (`cpu `) line of `/proc/stat`'s text, parsed.
pub(crate) fn all_cpus(stat: &str) -> Option<[u64; 8]> {
    cpu_fields(stat.lines().find(|l| l.starts_with("cpu "))?)
}

/// A process's command name and CPU ticks (`utime` + `stime`) from its `/proc/PID/stat` line.
/// The name sits in parentheses and may hold spaces or parentheses of its own, so the fields
/// are counted from the last `)`.
pub(crate) fn process_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime.saturating_add(stime)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lines_and_process_lines_parse_as_the_kernel_writes_them() {
        let stat = "cpu  10 1 5 100 4 1 2 3 7 0\ncpu0 5 0 2 50 2 0 1 1 0 0\n";
        assert_eq!(all_cpus(stat), Some([10, 1, 5, 100, 4, 1, 2, 3]));
        assert_eq!(cpu_fields("cpu0 5 0 2"), None);
        assert_eq!(cpu_fields("cpu0 5 0 2 50 2 0 1 x"), None);
        let line = "42 (my (odd) name) S 1 42 42 0 -1 0 0 0 0 0 17 4 0 0 20 0 1 0 99";
        assert_eq!(process_ticks(line), Some(("my (odd) name".into(), 21)));
        assert_eq!(process_ticks("42 (x) S 1"), None);
    }
}
