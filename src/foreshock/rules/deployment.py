"""How a project deploys its migrations, which decides which risks exist at all.

online: the migrations run while the service keeps serving traffic (zero-downtime deployments). A lock
  queues live queries, the release still running breaks on a renamed column, a long-held lock is an outage.
window: the service is down while the migrations run (self-hosted applications that migrate at start-up,
  upgrades in a maintenance window). Nothing is running to be blocked or broken; the one question is how long
  the upgrade takes at the instance's size, against the window.

Which risk classes are judged in which deployment is `Risk.judged_in` (rules.base), decided once from the
class. A project may deploy some paths one way and others the other (`[tool.foreshock.deployment]` globs).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from foreshock.core.paths import first_match


class Deployment(StrEnum):
    ONLINE = "online"
    WINDOW = "window"


# A maintenance window long enough for most self-hosted upgrades, short enough that users notice the outage.
DEFAULT_WINDOW_SECONDS = 600.0


@dataclass(frozen=True)
class DeploymentSettings:
    """The deployment of every migration path, and the window a window deployment is judged against.

    globs: (glob, deployment) in configuration order, matched as core.paths.first_match does (relative to
    `root`, the configuration file's directory, or absolute; `*` crossing directories); the first match
    wins, and paths no glob matches deploy as `default`.
    """

    default: Deployment = Deployment.ONLINE
    window: float = DEFAULT_WINDOW_SECONDS
    globs: tuple[tuple[str, Deployment], ...] = ()
    root: str | None = None

    def of(self, path: str) -> Deployment:
        found = first_match(path, self.globs, self.root)
        return self.default if found is None else found

    @property
    def any_window(self) -> bool:
        return self.default is Deployment.WINDOW or any(d is Deployment.WINDOW for _, d in self.globs)
