"""Users and tokens: the bodies of /users and /auth, and the User they answer with."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from shared.schemas.fields import Closed, Id, ResponseTime, choice, text
from shared.states import Role

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,64}$"
USERNAME_RULE = "expected 3 to 64 characters of A-Z, a-z, 0-9, _, . and -"
# An email address as the server checks it: no white space (as Python's str.isspace sees
# it) and no NUL, an `@`, and a dot in the domain after the last `@`.
_SPACE = r"\x00\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = rf"^[^{_SPACE}]+@[^{_SPACE}@]*\.[^{_SPACE}@]*$"

USERNAME = text(pattern=USERNAME_PATTERN, message=USERNAME_RULE, max_length=64)
PASSWORD = text(min_length=8, max_length=1024, message="expected a string of 8 to 1024 characters")
Username = Annotated[str, USERNAME]
Password = Annotated[str, PASSWORD]
EMAIL = text(
    max_length=320, pattern=EMAIL_PATTERN, message="expected an email address", nullable=True
)
Email = Annotated[str | None, EMAIL]


class UserCreate(Closed):
    """A new user."""

    username: Username = Field(description="3 to 64 characters of A-Z, a-z, 0-9, `_`, `.`, `-`.")
    password: Password = Field(description="It is hashed (argon2id) and never returned or logged.")
    email: Email = Field(None, description="An email address, or null for none.")


class UserUpdate(Closed):
    """Any of the fields; those omitted are left as they are."""

    username: Annotated[str | None, USERNAME] = None
    email: Email = Field(None, description="A new address, or null to remove it.")
    password: Annotated[str | None, PASSWORD] = Field(
        None, description="A new password; it is hashed again."
    )
    role: Annotated[str | None, choice(Role)] = Field(
        None, description="Only an admin may set `role`; anyone else gets `403`."
    )
    current_password: Annotated[str | None, text(max_length=1024, message="expected a string")] = (
        Field(
            None,
            description=(
                "Your current password: required when you change your own `password` "
                "(`403` if wrong). Not needed by an admin changing another user's. "
                "It is checked, never stored or logged."
            ),
        )
    )


class Credentials(Closed):
    """A username and password, for a token."""

    username: Annotated[str, text(min_length=1, message="required")]
    password: Annotated[str, text(min_length=1, message="required")]


class User(BaseModel):
    """A user. A password or its hash never appears in a response."""

    id: Id
    username: str
    email: str | None = Field(description="The user's email address, if any.")
    role: Annotated[str, choice(Role)] = Field(
        description="`admin` may see and change every user and job."
    )
    created_at: ResponseTime
    updated_at: ResponseTime


class UserCreated(BaseModel):
    user: User
    token: str = Field(description="A bearer token (JWT) for the new user.")


class TokenResponse(BaseModel):
    access_token: str = Field(
        description=(
            "A JWT (HS256) carrying `sub` (the user id), `role`, `ver` (the account's token "
            "version: a password or role change ends the token), `iat` and `exp`. Send it as "
            "`Authorization: Bearer <token>`."
        )
    )
    token_type: Annotated[str, choice(["bearer"])]
    expires_in: int = Field(ge=0, description="Seconds until the token expires.")
