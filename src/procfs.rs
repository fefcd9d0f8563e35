//! The `/proc` lines that the executor's quietness check and the engine's generator health
//! read: a CPU line of `/proc/stat`, a process's `/proc/PID/stat` and a thread's
//! `/proc/PID/task/TID/schedstat`. Pure parsing of text the kernel wrote, read as hostile all
//! the same (a `None`, never a panic); a leaf, so the driver and the engines share it without
//! importing each other.

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

/// A thread's time spent waiting on a run queue, in nanoseconds: the second field of its
/// `/proc/PID/task/TID/schedstat` (`on-CPU ns`, `run-queue wait ns`, `timeslices`). The time it
/// was runnable but another task had the core: the generator's own waiting, measured directly.
/// `None` when the line is not three numbers (a kernel without schedstats writes none).
pub(crate) fn run_queue_wait_ns(schedstat: &str) -> Option<u64> {
    let mut fields = schedstat.split_ascii_whitespace();
    let _on_cpu: u64 = fields.next()?.parse().ok()?;
    let waiting: u64 = fields.next()?.parse().ok()?;
    let _slices: u64 = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some(waiting)
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

    #[test]
    fn a_schedstat_line_gives_the_run_queue_wait_and_odd_lines_give_none() {
        assert_eq!(run_queue_wait_ns("1186053 1888858 3\n"), Some(1_888_858));
        assert_eq!(run_queue_wait_ns("0 0 0"), Some(0));
        let max = format!("1 {} 2", u64::MAX);
        assert_eq!(run_queue_wait_ns(&max), Some(u64::MAX));
        for odd in [
            "",
            "\n",
            "1186053",
            "1186053 1888858",
            "1186053 1888858 3 4",
            "1186053 -1888858 3",
            "1186053 18888x58 3",
            "1186053 18446744073709551616 3",
            "a b c",
            "１ ２ ３",
        ] {
            assert_eq!(run_queue_wait_ns(odd), None, "{odd:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn schedstat_parsing_never_panics(text in "([0-9]{0,21}|-|x| |\t|\n|\u{a0}){0,8}") {
            let _ = run_queue_wait_ns(&text);
        }

        #[test]
        fn three_numbers_give_the_second(a: u64, b: u64, c: u64) {
            proptest::prop_assert_eq!(run_queue_wait_ns(&format!("{a} {b} {c}\n")), Some(b));
        }
    }
}
