"""A user declares a new activation / cell in a few lines and the whole pipeline works for it."""
import math

import pytest
import sympy as sp
from scipy import integrate, optimize

import theory
from theory.declare.cell import E
from theory.cells.vanilla import vanilla


def test_user_declared_vanilla_cell_with_new_activation(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNALPROP_CACHE", str(tmp_path))
    cell = theory.register(vanilla("softsign", phi=E / (1 + sp.Abs(E)), name="vanilla-softsign"))
    p = dict(sigma_w=1.2, sigma_v=0.5, sigma_b=0.1, R=1.0, Sigma=1.0)
    q_star = theory.predict(cell.name, "q_star", **p)
    chi = theory.predict(cell.name, "chi", **p)
    # independent route: scipy quad + brentq on the same definitions
    phi = lambda x: x / (1 + abs(x))
    dphi = lambda x: 1 / (1 + abs(x)) ** 2
    expect = lambda f, q: integrate.quad(lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2), -40, 40, points=[0.0],
                                    epsabs=1e-14, epsrel=1e-13, limit=400)[0] / math.sqrt(2 * math.pi)
    base = p["sigma_v"] ** 2 * p["R"] + p["sigma_b"] ** 2
    q_ref = optimize.brentq(lambda q: p["sigma_w"] ** 2 * expect(lambda x: phi(x) ** 2, q) + base - q, 1e-6, 10, xtol=1e-15)
    assert q_star == pytest.approx(q_ref, rel=1e-10)
    assert chi == pytest.approx(p["sigma_w"] ** 2 * expect(lambda x: dphi(x) ** 2, q_ref), rel=1e-10)
    assert (tmp_path / "derivations" / "vanilla_softsign" / "derivation.md").exists()
    assert float(theory.predict(cell.name, "chi", backend="jax", **p)) == pytest.approx(chi, rel=1e-10)


def test_cell_declaration_is_validated_on_construction():
    from theory.declare.cell import Cell, Field, H
    from theory.declare.params import symbol
    with pytest.raises(ValueError, match="undeclared"):
        Cell(name="bad", update=sp.tanh(E), field=Field(recurrent=symbol("sigma_w")), params=(("sigma_b", 0.1),),
             critical_pair=("sigma_b", "sigma_b"))
    with pytest.raises(ValueError, match="degree <= 1"):
        Cell(name="bad", update=sp.tanh(E) * H ** 2, field=Field(recurrent=symbol("sigma_w")),
             params=(("sigma_w", 1.0), ("sigma_b", 0.1)))
    with pytest.raises(ValueError, match="must be >= 0"):
        Cell(name="bad", update=sp.tanh(E), field=Field(recurrent=symbol("sigma_w")),
             params=(("sigma_w", -1.0), ("sigma_b", 0.1)))
