"""Code that runs only in the trusted grading process, never next to student code.

Evaluations a check needs beyond the raw outputs of the student's functions (the test ELBO
of a trained model, importance-sampled log-likelihoods, statistics on held-out data) live
here. Rules:

* nothing under ``autograder/trusted`` is imported at module level by a topic module, the
  worker, the fork server or ``vaelib``: judges import it inside the judge function, which
  runs in the grading process;
* the grading sandbox does not let a child read this folder, so student code cannot import
  a graded answer from here;
* the student kit does not ship it.
"""
