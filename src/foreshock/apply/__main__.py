"""`python -m foreshock.apply PATHS --dsn URL`: the apply command on its own (same as `foreshock apply`)."""

from foreshock.apply.cli_command import main

if __name__ == "__main__":
    main()
