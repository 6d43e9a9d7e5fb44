"""``python -m tunecli`` entry point."""

from tunecli.cli import main

if __name__ == "__main__":
    main()
