"""``python -m daylock.testing.discord_emulator [--host H] [--port P] [--config FILE]``:
the emulator with no Django at all."""

from __future__ import annotations

import argparse
import sys

from daylock.testing.discord_emulator.config import ConfigError, EmulatorConfig, default_config
from daylock.testing.discord_emulator.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m daylock.testing.discord_emulator",
        description="Serve the Discord API emulator on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--config", help="JSON configuration file (default: built-in users)")
    args = parser.parse_args(argv)
    try:
        config = EmulatorConfig.from_file(args.config) if args.config else default_config()
    except ConfigError as exc:
        print(f"discord emulator: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve_forever(config, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
