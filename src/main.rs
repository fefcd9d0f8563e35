fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(loadforge_gate::main_with_args(std::env::args_os()))
}
