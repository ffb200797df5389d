"""What the course needs beyond pandas, statsmodels and seaborn.

- :mod:`helpers.data`: the GP cholesterol data, checked against its manifest.
- :mod:`helpers.mixed`: on statsmodels' MixedLM fits, what nlme::lme reports (check_fit, nlme_summary, lrt, icc),
  at the optimum the engine's verified optimiser finds.
- :mod:`helpers.glmm`: a random-intercept logistic model by maximum likelihood, as lme4's glmer (fit_glmer), and
  the profile-likelihood interval of its sigma_0 (profile_group_sd).
- :mod:`helpers.likelihood`: the one likelihood engine under mixed, boundary, smallsample, profile and nested.
- :mod:`helpers.smallsample`: Satterthwaite and Kenward-Roger df for a statsmodels MixedLM fit (as lmerTest, pbkrtest).
- :mod:`helpers.boundary`: testing a variance on the boundary: the chi-square mixture, a fast parametric-bootstrap
  LRT and the exact restricted LRT (as RLRsim); :mod:`helpers.progress`: a progress bar a notebook does not keep.
- :mod:`helpers.diagnostics`: residual and QQ plots, predicted effects with prediction intervals, caterpillar
  plot and rank intervals of a MixedLM fit.
- :mod:`helpers.profile`: profile-likelihood intervals for the SDs, correlations and ICC of a MixedLM fit (as lme4's
  confint(method = "profile")).
- :mod:`helpers.rsummary`: an OLS fit printed as R prints ``summary(lm(...))`` (r_summary).
- :mod:`helpers.simulate`: pupils within schools with a known truth (simulate_schools), for transfer exercises,
  and pupils in classes in schools (simulate_three_level).
- :mod:`helpers.checks`: the graded exercises' test checks, whose messages never reveal reference values.
"""
