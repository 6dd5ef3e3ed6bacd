"""`boundless worker`: a machine joins the Ray cluster that `boundless serve --ray` paints on.

It is `ray start ... --block` with the machine's resources, printed before it runs, so
what happens is never hidden and can be done by hand instead:

    boundless worker --head                       # the server's machine: start the cluster
    boundless worker --address HEAD:6379          # each GPU machine: join it (GPUs detected)
    boundless worker --address HEAD:6379 --num-gpus 2 --dry-run   # only print the command

The joining machine needs this package installed (the painter actors import it) with the
same Ray version as the head, and the model files at the same path (or a hub id).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from canvas.cli.errors import UserError


def worker(args: argparse.Namespace) -> int:
    if not args.head and not args.address:
        raise UserError("give --address HEAD:PORT to join a cluster, or --head to start one on this machine")
    if args.head and args.address:
        raise UserError("--head starts a cluster and --address joins one: give only one")
    for flag in ("num_gpus", "num_cpus"):
        if getattr(args, flag) is not None and getattr(args, flag) < 0:
            raise UserError(f"--{flag.replace('_', '-')} must be 0 or more, got {getattr(args, flag)}")
    command = ray_start_command(args)
    print("boundless worker: " + shlex.join(command), flush=True)
    if args.head:
        # Ray 2.60 starts a head with token authentication: whoever connects needs the
        # mode set and the token (~/.ray/auth_token here; `ray get-auth-token` prints it).
        print(f"boundless worker: the server paints here with: RAY_AUTH_MODE=token boundless serve --ray auto\n"
              f"boundless worker: other machines join with: RAY_AUTH_MODE=token RAY_AUTH_TOKEN=<`ray get-auth-token` "
              f"here> boundless worker --address {_this_host()}:{args.port}", flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command)


def ray_start_command(args: argparse.Namespace) -> list[str]:
    # No usage statistics sent to Ray's makers: nobody running boundless chose that.
    command = [_ray_executable(), "start", "--block", "--disable-usage-stats"]
    command += ["--head", "--port", str(args.port)] if args.head else ["--address", args.address]
    if args.num_gpus is not None:
        command += ["--num-gpus", str(args.num_gpus)]
    if args.num_cpus is not None:
        command += ["--num-cpus", str(args.num_cpus)]
    return command


def _ray_executable() -> str:
    """Ray's own command line, from the Python that runs this one (a venv's bin first)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError("boundless worker needs Ray: pip install 'boundless-canvas[ray]'") from None
    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if found is None:
        raise UserError("Ray is installed but its `ray` command is not on PATH")
    return found


def _this_host() -> str:
    """The address other machines reach this one at, as Ray itself finds it."""
    import ray.util

    return ray.util.get_node_ip_address()
