"""python -m registry_simulator [--host 127.0.0.1] [--port 8001]: load the citizens, serve
until SIGTERM or Ctrl-C, and print a few usable numbers of the demo population."""

import argparse
import signal
import sys
from datetime import date
from urllib.parse import urlsplit

import registry_simulator
from identity.national_id import get_scheme
from registry_simulator import config
from registry_simulator.population import PopulationError, demo_examples, load_population
from registry_simulator.server import RegistryServer, make_server


class _Stop(Exception):
    pass


def _stop(signum, frame):
    raise _Stop


def print_banner(server: RegistryServer, citizens: dict, demo: bool, voting_age: int):
    print(f"registry simulator: {server.url}", flush=True)
    if not demo:
        print(f"loaded {len(citizens)} citizens", flush=True)
    else:
        print(f"demo population of {len(citizens)} citizens; some to try:", flush=True)
        for citizen, note in demo_examples(citizens, date.today(), voting_age):
            name = f"{citizen.first_name} {citizen.last_name}"
            print(f"  {citizen.national_id}  {citizen.date_of_birth}  {name}  ({note})")
    print(f"registry simulator ready on {server.url}", flush=True)


def parse_args(argv, default_url: str):
    default = urlsplit(default_url)
    parser = argparse.ArgumentParser(
        prog="python -m registry_simulator", description=registry_simulator.__doc__
    )
    parser.add_argument("--host", default=default.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=default.port or 80)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv, config.registry_url())
    try:
        scheme = get_scheme(config.national_id_scheme())
        voting_age = config.voting_age()
        secret = config.client_secret()
        citizens = load_population(scheme, config.citizens_file())
    except (config.ConfigError, ValueError, PopulationError, OSError) as exc:
        print(f"registry simulator: {exc}", file=sys.stderr, flush=True)
        return 2
    server = make_server(
        args.host, args.port, citizens=citizens, client_id=config.client_id(), secret=secret
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        print_banner(server, citizens, config.citizens_file() is None, voting_age)
        server.serve_forever()
    except _Stop:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
