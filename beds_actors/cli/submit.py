"""`beds-submit --role admin`: launch a node role as a Ray job on a running cluster."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def submit(
    role: Annotated[str, typer.Option(help="node role to run: appServer, admin, segundo, tercero")],
    address: Annotated[
        str,
        typer.Option(
            help="Ray dashboard address of the cluster head", envvar="RAY_API_SERVER_ADDRESS"
        ),
    ] = "http://127.0.0.1:8265",
    env: Annotated[str, typer.Option(help="BEDS_ENV for the job")] = "dev",
    wait: Annotated[bool, typer.Option(help="follow the job's logs until it ends")] = False,
) -> None:
    """Submit `beds up` for ROLE as a Ray job; the job joins the cluster it runs on."""
    from ray.job_submission import JobSubmissionClient

    try:
        client = JobSubmissionClient(address)
    except Exception as exc:
        typer.echo(
            f"cannot reach the Ray job API at {address}: {exc} — is the head up "
            "(`ray up ray_cluster.yaml`) and RAY_AUTH_MODE/token set?",
            err=True,
        )
        raise typer.Exit(2) from None
    job_id = client.submit_job(
        entrypoint="beds up",
        submission_id=None,
        runtime_env={"env_vars": {"BEDS__NODE__ROLES": f'["{role}"]', "BEDS_ENV": env}},
        metadata={"beds_role": role},
    )
    typer.echo(f"submitted BEDS role {role} as Ray job {job_id}")
    if wait:
        import asyncio

        async def follow() -> None:
            async for lines in client.tail_job_logs(job_id):
                typer.echo(lines, nl=False)

        asyncio.run(follow())
