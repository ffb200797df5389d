# Sphinx configuration of the self-study book. Build it with `make book` (book/build.py), which stages the
# sources next to this file's copy in _build/book-src/ and runs Sphinx there; running Sphinx on book/
# alone would find no notebooks.
project = "Random effects and hierarchical models"
author = "the course authors"
copyright = "the course authors"

# sphinx-mathjax-offline ships MathJax 3 and copies it into the book: math renders without a network.
extensions = ["myst_nb", "sphinx_togglebutton", "sphinx-mathjax-offline"]
exclude_patterns = ["_*.md", "**/.ipynb_checkpoints"]  # _course_map.md is included by index.md

# The book shows the outputs stored in the notebooks; it never runs them.
nb_execution_mode = "off"
myst_enable_extensions = ["amsmath", "colon_fence", "dollarmath"]
myst_heading_anchors = 3
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as JupyterLab renders it
nitpicky = True

html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {
    "use_download_button": True,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None
