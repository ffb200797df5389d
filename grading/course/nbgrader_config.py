# nbgrader configuration of the course; run every nbgrader command from this folder.
# What each setting is for is explained in grading/README.md ("What the configuration does").
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                    GetGrades, IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)

from grading.autograde import JudgedExecute
from grading.lms import LmsCollector
from grading.nbgrader_plugins import (CollectWithoutLinks, DropEmptyMetadata, HideHiddenTests,
                                      remove_submitted_links)
from grading.timeouts import read_timeouts

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "random-effects"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Autograde: nbgrader's own steps, with Execute replaced by the course's judged version: the student's code
# runs in the sandbox (kernels under grading.limits.SandboxLimits, e.g. c.SandboxLimits.memory_mb), the tests
# run outside it; per-assignment limits from timeouts.json.
c.Autograde.autograde_preprocessors = [JudgedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.JudgedExecute.timeouts = read_timeouts(c.CourseDirectory.root)
c.Execute.timeout = 60  # assignments missing from timeouts.json
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"ConvergenceWarning"

# A student's symbolic link is never followed with the grader's rights: collect leaves links out, and
# autograde deletes any link in a submission before reading it (stock nbgrader would copy what they point to).
c.ExchangeFactory.collect = CollectWithoutLinks
c.Autograde.pre_convert_hook = remove_submitted_links

# A grade cell a student deleted is put back (with a note) and graded, rather than lost;
# DropEmptyMetadata works around an nbgrader 0.9.6 crash on duplicated cells that this setting exposes.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, DropEmptyMetadata, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadata]

# Feedback: never show hidden-test code or tracebacks.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# Students' notebooks are small; larger files in an assignment folder are not collected.
c.ExchangeSubmit.max_file_size = 2000  # kB

# Submissions downloaded from Moodle or Canvas: `nbgrader zip_collect <assignment> --LmsCollector.platform=canvas`
# (moodle by default) reads the student from the platform's file names and undoes its renaming
# (grading/lms.py; grading/README.md, "Students on laptops: Moodle or Canvas").
c.ZipCollectApp.collector_plugin = LmsCollector
