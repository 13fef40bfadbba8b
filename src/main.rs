fn main() -> std::process::ExitCode {
    augflow::cli::main()
}
