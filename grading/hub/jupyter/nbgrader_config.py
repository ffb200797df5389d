# nbgrader's settings for every server of the course hub (people's and the formgrader's): the exchange that
# all accounts share, whose path the hub passes in (grading/hub/jupyterhub_config.py).
import os

c = get_config()  # noqa: F821 (provided by nbgrader)
c.Exchange.root = os.environ["COURSE_HUB_EXCHANGE"]
