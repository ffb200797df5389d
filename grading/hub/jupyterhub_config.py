# JupyterHub configuration of the course: what `make hub` starts, and what a real deployment starts from.
#
# One course on one server: local Unix accounts, each person's JupyterLab started as that account
# (LocalProcessSpawner) from the course's environment (.venv-hub, in the repository or in the copy of it
# that install.py makes where the accounts can read it), so every kernel can import `helpers`; the
# formgrader runs as a hub service under a grader account that owns the nbgrader course root, and only the
# instructor's group may open it; nbgrader's exchange is a folder every account shares. Accounts, ports and
# paths come from course_hub.Settings (environment variables, see course_hub.py). grading/README.md ("For
# instructors: a class on JupyterHub") says what to change for real logins and how this maps onto TLJH and Zero to
# JupyterHub.
import hmac
import json

from jupyterhub.auth import Authenticator

from grading.hub.course_hub import HERE, PROXY, VENV_BIN, Settings

c = get_config()  # noqa: F821 (provided by JupyterHub)
settings = Settings()


class TrialPasswordAuthenticator(Authenticator):
    """For a trial only: each account's password is the one course_hub.py made and printed. For a class,
    replace it by the institution's login (see grading/README.md)."""

    def passwords(self) -> dict[str, str]:
        return json.loads(settings.passwords_file.read_text())

    async def authenticate(self, handler, data):
        expected = self.passwords().get(data.get("username", ""))
        if expected and hmac.compare_digest(data.get("password", "").encode(), expected.encode()):
            return data["username"]
        return None


c.JupyterHub.authenticator_class = TrialPasswordAuthenticator
c.Authenticator.allowed_users = set(settings.people)
c.Authenticator.admin_users = {settings.instructor}

# Ports: the public one, then the proxy's API, the hub itself and the formgrader service, all on loopback
# except the public one. The hub's database and cookie secret live in the state folder.
c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.port + 1}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.port + 2}"
FORMGRADER_URL = f"http://127.0.0.1:{settings.port + 3}"
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(settings.state / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{settings.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(settings.state / "jupyterhub_cookie_secret")

# What every server sees: the course environment first on PATH (nbgrader calls its own tools by name), and
# nbgrader's settings for the hub (the shared exchange) in jupyter/. People's own servers also read
# jupyter-people/, which turns off the instructor's extensions (formgrader, create assignment, course list):
# those belong to the formgrader service.
PATH = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
COMMON_ENVIRONMENT = {"PATH": PATH, "COURSE_HUB_EXCHANGE": str(settings.exchange)}

c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {**COMMON_ENVIRONMENT, "JUPYTER_CONFIG_PATH": f"{HERE / 'jupyter'}:{HERE / 'jupyter-people'}"}
c.Spawner.start_timeout = 180  # s: a busy server can be slow to import JupyterLab's extensions
c.Spawner.http_timeout = 180

# The formgrader: the grader account's JupyterLab, started by the hub in the course root (so nbgrader reads
# the course's own nbgrader_config.py). The service's name must be the course id (nbgrader builds its
# links from it). Members of the formgrade group (the instructor; add teaching assistants there) may open it.
FORMGRADE_GROUP = f"formgrade-{settings.course_id}"
c.JupyterHub.services = [
    {
        "name": settings.course_id,
        "url": FORMGRADER_URL,
        "command": [str(VENV_BIN / "jupyterhub-singleuser")],
        "user": settings.grader,
        "cwd": str(settings.course_root),
        "environment": {
            **COMMON_ENVIRONMENT,
            "JUPYTER_CONFIG_PATH": str(HERE / "jupyter"),
            "JUPYTERHUB_DEFAULT_URL": "/formgrader",
        },
        "oauth_no_confirm": True,
    }
]
c.JupyterHub.load_groups = {FORMGRADE_GROUP: {"users": [settings.instructor]}}
c.JupyterHub.load_roles = [
    {
        "name": FORMGRADE_GROUP,
        "groups": [FORMGRADE_GROUP],
        "scopes": [
            f"access:services!service={settings.course_id}",
            "list:services",
            f"read:services!service={settings.course_id}",
        ],
    }
]
