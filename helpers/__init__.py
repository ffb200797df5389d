"""What the course needs beyond pandas, statsmodels and seaborn.

- :mod:`helpers.data`: the GP cholesterol data, checked against its manifest.
"""
