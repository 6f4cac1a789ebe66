"""Issue 18 item 5: generated user-cell code is imported only if it hashes to what was generated,
and declarations take SymPy expressions, never strings."""
import pytest
import sympy as sp

import theory
from theory.codegen import trust
from theory.declare.cell import E, H, Cell, Field
from theory.codegen.outdir import OutputError
from theory.declare.declared import DeclarationTypeError
from theory.declare.gated import Gate, GatedCell
from theory.declare.params import symbol

P = dict(sigma_w=1.1, sigma_b=0.2)


def _cell(name):
    """A small feed-forward user cell (cheap to generate)."""
    return theory.register(Cell(name=name, update=sp.tanh(E) / 2 + sp.sin(E) / 2,
                                field=Field(recurrent=symbol("sigma_w"), bias=symbol("sigma_b")),
                                params=(("sigma_w", 1.0), ("sigma_b", 0.1)), recurrent=False))


def _package(tmp_path, c):
    return tmp_path / "derivations" / c.package


def test_appended_code_does_not_run_and_the_value_is_right(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNALPROP_CACHE", str(tmp_path / "cache"))
    c = _cell("trust-appended")
    theory.generate(c)
    pkg = tmp_path / "cache" / "derivations" / c.package
    kernels = pkg / "numba_kernels.py"
    assert (pkg / trust.MANIFEST).exists()
    assert trust.trusted_source(kernels) == kernels.read_bytes()
    clean = kernels.read_bytes()
    sentinel = tmp_path / "pwned"
    with open(kernels, "a") as f:
        f.write(f"\nopen({str(sentinel)!r}, 'w').write('ran')\n")
    assert trust.trusted_source(kernels) is None  # the appended file no longer hashes to the manifest
    q = theory.predict(c.name, "q_star", **P)
    assert not sentinel.exists()
    assert kernels.read_bytes() == clean  # regenerated
    # independent value: iterate the variance map with scipy quadrature
    from scipy import integrate
    import math
    phi = lambda x: math.tanh(x) / 2 + math.sin(x) / 2
    qq = 1.0
    for _ in range(200):
        m = integrate.quad(lambda z: phi(math.sqrt(qq) * z) ** 2 * math.exp(-z * z / 2), -30, 30,
                           epsabs=1e-14, epsrel=1e-13)[0] / math.sqrt(2 * math.pi)
        qq = P["sigma_w"] ** 2 * m + P["sigma_b"] ** 2
    assert q == pytest.approx(qq, rel=1e-9)


def test_a_cache_without_manifest_or_with_a_changed_manifest_entry_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNALPROP_CACHE", str(tmp_path))
    c = _cell("trust-nomanifest")
    theory.generate(c)
    pkg = _package(tmp_path, c)
    (pkg / trust.MANIFEST).unlink()  # a cache written before manifests existed
    sentinel = tmp_path / "pwned"
    kernels = pkg / "jax_kernels.py"
    kernels.write_text(kernels.read_text() + f"\nopen({str(sentinel)!r}, 'w')\n")
    q = theory.predict(c.name, "q_star", backend="jax", **P)
    assert not sentinel.exists()
    assert q == pytest.approx(theory.predict(c.name, "q_star", **P), rel=1e-10)
    assert trust.trusted_source(kernels) is not None


def test_a_changed_module_that_cannot_be_regenerated_is_refused_not_imported(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNALPROP_CACHE", str(tmp_path))
    c = _cell("trust-readonly")
    theory.generate(c)
    pkg = _package(tmp_path, c)
    sentinel = tmp_path / "pwned"
    kernels = pkg / "numba_kernels.py"
    kernels.write_text(kernels.read_text() + f"\nopen({str(sentinel)!r}, 'w')\n")

    def unwritable(*a, **k):  # what outdir raises for a read-only cache folder (root ignores chmod)
        raise OutputError(f"out={pkg}: folder is not writable")
    monkeypatch.setattr(theory.api, "generate", unwritable)
    with pytest.raises(trust.UntrustedCodeError, match="does not hash to the sha256 recorded.*not importing"):
        theory.predict(c.name, "q_star", **P)
    assert not sentinel.exists()


def test_manifest_is_the_whole_file_hash(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    trust.write_manifest(tmp_path, {"m.py": "x = 1\n"})
    assert trust.trusted_source(tmp_path / "m.py") == b"x = 1\n"
    (tmp_path / "m.py").write_text("x = 1\n" + "#" * 10_000 + "\nx = 2\n")  # change far past the header
    assert trust.trusted_source(tmp_path / "m.py") is None
    assert trust.trusted_source(tmp_path / "other.py") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != trust.MANIFEST] == []


# ---------------------------------------------------------------------------------------------
# declarations: SymPy expressions, not strings
# ---------------------------------------------------------------------------------------------

def test_field_refuses_strings_before_sympify(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("sympify was called")
    monkeypatch.setattr(sp, "sympify", boom)
    for k in ("recurrent", "input", "bias", "mean"):
        kw = {"recurrent": symbol("sigma_w"), k: "__import__('os').system('true')"}
        with pytest.raises(DeclarationTypeError, match=rf"Field\({k}=\.\.\.\) must be a SymPy expression.*str"):
            Field(**kw)
    with pytest.raises(TypeError, match=r"Field\(bias=\.\.\.\).*dict"):
        Field(recurrent=symbol("sigma_w"), bias={})
    with pytest.raises(TypeError, match=r"Field\(recurrent=\.\.\.\).*bool"):
        Field(recurrent=True)


def test_cell_and_gates_refuse_string_expressions():
    f = Field(recurrent=symbol("sigma_w"), bias=symbol("sigma_b"), mean=0)  # numbers are fine
    with pytest.raises(DeclarationTypeError, match=r"Cell\(update=\.\.\.\).*str"):
        Cell(name="bad", update="tanh(e)", field=f, params=(("sigma_w", 1.0), ("sigma_b", 0.1)))
    with pytest.raises(DeclarationTypeError, match=r"Cell\(update=\.\.\.\).*int"):
        Cell(name="bad", update=3, field=f, params=(("sigma_w", 1.0), ("sigma_b", 0.1)))
    with pytest.raises(DeclarationTypeError, match=r"Gate\(reads=\.\.\.\)"):
        Gate("r", reads="h")
    with pytest.raises(DeclarationTypeError, match=r"Gate\(scale=\.\.\.\)"):
        Gate("n", scale="a_r", bias_mean=False)
    h = sp.Symbol("h", real=True)
    with pytest.raises(DeclarationTypeError, match=r"GatedCell\(update=\.\.\.\) of h"):
        GatedCell(name="bad-gated", gates=(Gate("z"),), state=("h",), update=(("h", "a_z*h"),), memory_gate="z")
    assert H == h


def test_builtin_declarations_still_build_with_unchanged_hashes():
    # every built-in is constructed on import; their hashes are those in the committed derivations
    from pathlib import Path
    import derivations
    import importlib
    builtin = importlib.import_module("theory.cells").is_builtin
    for name in theory.cells():
        if not builtin(name):
            continue
        c = theory.cell(name)
        header = (Path(derivations.__file__).parent / c.package / "__init__.py").read_text()[:400]
        assert c.declaration_hash() in header, name
