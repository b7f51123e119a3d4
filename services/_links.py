"""User links: a chat platform account linked to an ixo user, as ``ixo.user.linked.v1`` on the
compacted ``ixo.users.links`` topic (the link table)."""

from __future__ import annotations

from schemas import USER_LINKS, UserLinkedV1
from services._commands import Commands, Publisher, Receipt


class LinkService:
    def __init__(self, publisher: Publisher, *, source: str) -> None:
        self._commands = Commands(publisher, source=source, topic=USER_LINKS, id_field="link_id")

    async def link(self, link: UserLinkedV1, *, event_id: str | None = None) -> Receipt:
        return await self._commands.publish(link, event_id=event_id)
