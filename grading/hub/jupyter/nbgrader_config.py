# nbgrader's settings for every server of the course hub (people's and the formgrader's): the exchange that
# all accounts share, whose path the hub passes in (grading/hub/jupyterhub_config.py).
import os

c = get_config()  # noqa: F821 (provided by nbgrader)
c.Exchange.root = os.environ["COURSE_HUB_EXCHANGE"]
# Collect never follows a student's symbolic link, as in the course's own nbgrader_config.py: set here too for
# a formgrader that does not start in the course root and so never reads that file (a name, not an import, so
# that people's servers load the course's code only if they collect).
c.ExchangeFactory.collect = "grading.nbgrader_plugins.CollectWithoutLinks"
