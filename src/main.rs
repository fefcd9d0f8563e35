fn main() -> std::process::ExitCode {
    loadforge_gate::commands::scrub_empty_env();
    std::process::ExitCode::from(loadforge_gate::main_with_args(std::env::args_os()))
}
