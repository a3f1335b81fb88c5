"""``essayflow token``: development tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from essayflow_cli.calls import settings
from essayflow_runtime.auth import Role, mint_service_token, mint_token

app = typer.Typer(help="Development tokens.", no_args_is_help=True)


@app.command("mint")
def token_mint(
    user: Annotated[str, typer.Argument(help="User or service id (the token's subject)")],
    role: Annotated[str, typer.Option(help="teacher, admin or service")] = "teacher",
    hours: Annotated[float, typer.Option(help="Lifetime in hours (teacher, admin)")] = 12,
    audience: Annotated[
        str | None, typer.Option(help="The service a service token is for (bos, els, cms, nlp); --role service only")
    ] = None,
) -> None:
    """Mint a development token: a teacher's or admin's (signed with the user-token key,
    ESSAYFLOW_JWT_SECRET), or USER's service token for one callee (signed with USER's own
    service key, which lives minutes)."""
    loaded = settings()
    try:
        parsed = Role(role)
    except ValueError:
        raise typer.BadParameter(f"{role!r} is not teacher, admin or service", param_hint="--role") from None
    if parsed is Role.SERVICE:
        if not audience:
            raise typer.BadParameter("a service token is for one service: name it", param_hint="--audience")
        print(mint_service_token(loaded, user, audience))
        return
    if audience:
        raise typer.BadParameter("only service tokens have an audience", param_hint="--audience")
    print(mint_token(loaded, user, parsed, ttl_s=hours * 3600))
