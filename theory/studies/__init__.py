"""Studies: quantities beyond the mean-field core, served through ``theory.predict``.

Each study declares its formulas once in SymPy, generates its own kernel package under
``derivations/`` with the shared printers (:mod:`theory.codegen.printers`) and registers its quantities
with :func:`theory.api.register_quantity`.  A study is loaded by listing it in
:mod:`theory.extensions`.

* :mod:`theory.studies.dying_relu` — born-dead probabilities of fixed-width ReLU nets
  (05-dying-relu.md), generated into ``derivations/dying_relu``;
  :mod:`theory.studies.dying_relu_domain` computes its one numerical quantity, ``domain_bdp`` (the
  exact d = 1 domain law: a Markov chain, not a closed form, so not generated).
"""
