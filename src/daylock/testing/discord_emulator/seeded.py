"""The seeded test accounts as emulated Discord users, offered on the consent page.

``daylock seed`` writes the accounts of :data:`daylock.seeded_accounts.ROSTER`; an
emulator configured for a staging or development process (:func:`~daylock.testing.
discord_emulator.django_adapter.configured_for_current`, where the policy says
``emulator_offers_seeded_accounts``) serves the same identities, so QA logs in as any
seeded role with one click. What Daylock then does with the login is Daylock's own
rule, as with any Discord user: a banned account is refused from its database, and an
account that is not in the server is refused because Discord answers "Unknown Guild".
"""

from __future__ import annotations

from daylock import seeded_accounts
from daylock.seeded_accounts import SeededAccount
from daylock.testing.discord_emulator.config import EmulatedUser

#: Consent page headings, in the order the roster meets them.
GROUP_ADMINS = "Admins"
GROUP_MODERATORS = "Moderators"
GROUP_PLAYERS = "Players"
GROUP_BANNED = "Banned in Daylock"
GROUP_NOT_IN_SERVER = "Not in the server"


def group_of(account: SeededAccount) -> str:
    if not account.in_guild:
        return GROUP_NOT_IN_SERVER
    if account.banned:
        return GROUP_BANNED
    return {
        seeded_accounts.ADMIN: GROUP_ADMINS,
        seeded_accounts.MODERATOR: GROUP_MODERATORS,
    }.get(account.role, GROUP_PLAYERS)


def seeded_users(
    *, admin_role_ids: frozenset[str], moderator_role_ids: frozenset[str]
) -> list[EmulatedUser]:
    """The roster as Discord users of the guild, holding the roles the environment
    counts as admin or moderator (the seed stores the same ones)."""
    return [
        EmulatedUser(
            id=account.discord_id,
            username=account.username,
            global_name=account.display_name,
            nick=account.nick or None,
            in_guild=account.in_guild,
            roles=seeded_accounts.guild_role_ids(
                account.role,
                admin_role_ids=admin_role_ids,
                moderator_role_ids=moderator_role_ids,
            ),
            quick_login_group=group_of(account),
            quick_login_note=account.story,
        )
        for account in seeded_accounts.ROSTER
    ]
