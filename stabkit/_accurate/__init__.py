"""The accurate tier's private machinery, behind one door: :mod:`stabkit.accurate`.

* ``inputs``: input checks, axes, labels and targets shared by the tiers;
* ``eft``: error-free transformations (TwoSum) and compensated row sums;
* ``double_double``: double-double arithmetic;
* ``elementwise``, ``sigmoid64``: the one-argument kernels in float64;
* ``rows``: row analysis of softmax/logsumexp (the maximum, the loser mass);
* ``unshifted``: rows that need no max shift;
* ``cancelling``: logsumexp rows where ``m + log1p(s)`` cancels;
* ``near_zero``: exact sums of rows whose logsumexp is about 0 (log-probabilities);
* ``crossentropy``: the cross-entropy rows, exact renormalisation of probability rows;
* ``lossopts``, ``reduction``: the loss options and reductions, shared by the tiers.
* ``weights``: logsumexp's weights and sign, shared by the tiers;
* ``weighted``, ``weighted_mp``: the weighted logsumexp (float64 and
  double-double passes with error bounds; MPFR rows).

Nothing here is public: import the functions from :mod:`stabkit.accurate`.
"""
