"""What the course needs beyond pandas, statsmodels and seaborn.

- :mod:`helpers.data`: the GP cholesterol data, checked against its manifest.
- :mod:`helpers.mixed`: on statsmodels' MixedLM fits, what nlme::lme reports (check_fit, nlme_summary, lrt, icc),
  and the verified optimiser fit_lme behind the check.
- :mod:`helpers.smallsample`: Satterthwaite and Kenward-Roger df for a statsmodels MixedLM fit (as lmerTest, pbkrtest).
- :mod:`helpers.rsummary`: an OLS fit printed as R prints ``summary(lm(...))`` (r_summary).
- :mod:`helpers.simulate`: pupils within schools with a known truth (simulate_schools), for transfer exercises.
- :mod:`helpers.checks`: the graded exercises' test checks, whose messages never reveal reference values.
"""
