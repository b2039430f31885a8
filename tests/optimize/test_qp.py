"""The least-squares QP layer: closed-form answers, diagnostics, warm starts, errors."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sandbox.core.errors import ConfigError, SandboxError
from sandbox.optimize import (
    Bounds,
    LeastSquaresQP,
    LinearEquality,
    LinearInequality,
    QPConfig,
    QPInfeasibleError,
    QPSolverError,
    QPUnboundedError,
    Simplex,
    available_solvers,
    solve_least_squares,
)


def project_simplex(y: np.ndarray, total: float = 1.0) -> np.ndarray:
    """Euclidean projection onto {x >= 0, sum x = total} by sorting (Duchi et al., 2008)."""
    u = np.sort(y)[::-1]
    cumulative = np.cumsum(u) - total
    k = np.arange(1, y.size + 1)
    rho = np.flatnonzero(u - cumulative / k > 0)[-1]
    return np.maximum(y - cumulative[rho] / (rho + 1), 0.0)


@pytest.mark.parametrize("m, n, seed", [(30, 5, 0), (8, 8, 1), (200, 3, 2), (1, 1, 3)])
def test_unconstrained_weighted_least_squares_equals_lstsq(m, n, seed):
    rng = np.random.default_rng(seed)
    design, target = rng.normal(size=(m, n)), rng.normal(size=m)
    weights = rng.uniform(0.1, 3.0, size=m)
    root = np.sqrt(weights)
    expected = np.linalg.lstsq(root[:, None] * design, root * target, rcond=None)[0]
    result = solve_least_squares(design, target, weights=weights)
    np.testing.assert_allclose(result.x, expected, atol=1e-7)
    assert result.objective == pytest.approx(float(weights @ (design @ expected - target) ** 2),
                                             rel=1e-9, abs=1e-12)
    assert result.status == "optimal" and result.constraints == {}


def test_torch_sparse_and_uncompressed_inputs_give_the_same_answer():
    rng = np.random.default_rng(4)
    design, target = rng.normal(size=(40, 6)), rng.normal(size=40)
    expected = np.linalg.lstsq(design, target, rcond=None)[0]
    as_torch = solve_least_squares(torch.tensor(design, dtype=torch.float32),
                                   torch.tensor(target, dtype=torch.float32))
    np.testing.assert_allclose(as_torch.x, expected, atol=1e-5)  # float32 inputs
    sparse = solve_least_squares(sp.csr_matrix(design), target)
    np.testing.assert_allclose(sparse.x, expected, atol=1e-7)
    plain = solve_least_squares(design, target, config=QPConfig(compress_rows=False))
    np.testing.assert_allclose(plain.x, expected, atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_simplex_projection_matches_the_sorting_algorithm(seed, n):
    y = np.random.default_rng(seed).normal(scale=2.0, size=n)
    result = solve_least_squares(np.eye(n), y, constraints=[Simplex("simplex")])
    expected = project_simplex(y)
    np.testing.assert_allclose(result.x, expected, atol=1e-8)
    np.testing.assert_array_equal(result.active["simplex"], np.flatnonzero(expected == 0))
    assert result.residuals["simplex"] < 1e-9


def test_simplex_on_a_subset_with_a_total():
    y = np.array([3.0, -1.0, 0.4, 0.2, -5.0])
    result = solve_least_squares(np.eye(5), y, constraints=[Simplex("s", total=2.0,
                                                                    indices=[1, 2, 3])])
    np.testing.assert_allclose(result.x[[0, 4]], y[[0, 4]], atol=1e-8)
    np.testing.assert_allclose(result.x[[1, 2, 3]], project_simplex(y[[1, 2, 3]], 2.0),
                               atol=1e-8)


def test_bounds_on_an_identity_design_clip_the_target():
    y = np.array([-2.0, 0.3, 1.7, 0.9])
    lower, upper = np.array([-1.0, 0.0, -np.inf, 0.0]), np.array([1.0, 1.0, 1.5, np.inf])
    result = solve_least_squares(np.eye(4), y, constraints=[Bounds("box", lower, upper)])
    np.testing.assert_allclose(result.x, np.clip(y, lower, upper), atol=1e-9)
    np.testing.assert_array_equal(result.active["box"], [0, 2])
    assert result.constraints["box"].dual is None


def test_equality_projection_has_the_closed_form_and_all_rows_active():
    rng = np.random.default_rng(5)
    y, matrix, rhs = rng.normal(size=6), rng.normal(size=(2, 6)), rng.normal(size=2)
    expected = y - matrix.T @ np.linalg.solve(matrix @ matrix.T, matrix @ y - rhs)
    result = solve_least_squares(np.eye(6), y, constraints=[LinearEquality("eq", matrix, rhs)])
    np.testing.assert_allclose(result.x, expected, atol=1e-8)
    np.testing.assert_array_equal(result.active["eq"], [0, 1])
    # Stationarity in the caller's units: 2 (x - y) + matrix^T dual = 0.
    np.testing.assert_allclose(2 * (result.x - y) + matrix.T @ result.constraints["eq"].dual,
                               0.0, atol=1e-6)


def test_half_space_projection_reports_only_the_binding_row():
    y = np.array([2.0, 2.0])
    rows = np.array([[1.0, 1.0], [1.0, -1.0]])       # x0 + x1 <= 1 binds; x0 - x1 <= 5 not
    result = solve_least_squares(np.eye(2), y,
                                 constraints=[LinearInequality("half", rows, [1.0, 5.0])])
    np.testing.assert_allclose(result.x, [0.5, 0.5], atol=1e-9)
    np.testing.assert_array_equal(result.active["half"], [0])
    dual = result.constraints["half"].dual
    assert dual[0] == pytest.approx(3.0, rel=1e-6) and abs(dual[1]) < 1e-6
    assert result.is_active("half")


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e7])
def test_answers_do_not_depend_on_the_data_scale(scale):
    rng = np.random.default_rng(6)
    y = rng.normal(size=8)
    result = solve_least_squares(scale * np.eye(8), scale * y, constraints=[Simplex()])
    np.testing.assert_allclose(result.x, project_simplex(y), atol=1e-8)


def test_warm_resolve_reuses_the_structure_and_matches_a_cold_solve():
    rng = np.random.default_rng(7)
    problem = LeastSquaresQP()
    first = problem.solve(rng.normal(size=(50, 4)), rng.normal(size=50),
                          constraints=[Simplex(), Bounds("cap", upper=0.6)])
    design, target = rng.normal(size=(80, 4)), rng.normal(size=80)  # more rows: same structure
    warm = problem.solve(design, target, constraints=[Simplex(), Bounds("cap", upper=0.5)])
    cold = solve_least_squares(design, target, constraints=[Simplex(), Bounds("cap", upper=0.5)])
    assert not first.warm and warm.warm and not cold.warm
    np.testing.assert_allclose(warm.x, cold.x, atol=1e-9)
    changed = problem.solve(design, target, constraints=[Simplex()])
    assert not changed.warm


@pytest.mark.skipif("OSQP" not in available_solvers(), reason="OSQP not installed")
def test_osqp_agrees_with_clarabel():
    rng = np.random.default_rng(8)
    design, target = rng.normal(size=(30, 6)), rng.normal(size=30)
    sets = [Simplex(), LinearInequality("first_two", [[1, 1, 0, 0, 0, 0]], [0.3])]
    clarabel = solve_least_squares(design, target, constraints=sets)
    osqp = solve_least_squares(design, target, constraints=sets,
                               config=QPConfig(solver="osqp"))
    assert osqp.solver == "OSQP"
    np.testing.assert_allclose(osqp.x, clarabel.x, atol=1e-6)


def test_infeasible_pair_is_named_and_irrelevant_sets_are_not():
    sets = [Bounds("box", 0.0, 1.0), LinearInequality("spare", [[1.0, -1.0, 0.0]], [4.0]),
            LinearEquality("budget", [[1.0, 1.0, 1.0]], [10.0])]
    with pytest.raises(QPInfeasibleError) as caught:
        solve_least_squares(np.eye(3), np.zeros(3), constraints=sets)
    assert caught.value.constraint_sets == ("box", "budget")
    assert "'box' and 'budget'" in str(caught.value)
    assert isinstance(caught.value, SandboxError)


def test_a_set_infeasible_on_its_own_is_named_alone():
    sets = [Simplex(), LinearInequality("impossible", [[0.0, 0.0]], [-1.0])]
    with pytest.raises(QPInfeasibleError, match="'impossible' cannot hold on its own"):
        solve_least_squares(np.eye(2), np.zeros(2), constraints=sets)


def test_without_diagnosis_every_set_is_named():
    sets = [Bounds("box", 0.0, 1.0), LinearEquality("budget", [[1.0, 1.0]], [5.0])]
    with pytest.raises(QPInfeasibleError) as caught:
        solve_least_squares(np.eye(2), np.zeros(2), constraints=sets,
                            config=QPConfig(diagnose_infeasibility=False))
    assert caught.value.constraint_sets == ("box", "budget") and not caught.value.diagnosed


def test_unbounded_linear_term_raises():
    with pytest.raises(QPUnboundedError, match="unbounded"):
        solve_least_squares(np.array([[1.0, 0.0]]), [0.0], linear=[0.0, -1.0],
                            constraints=[Bounds("low", lower=0.0)])


@pytest.mark.parametrize("kwargs, field", [
    ({"design": np.ones(3)}, "design"),
    ({"design": np.zeros((0, 2))}, "design"),
    ({"target": np.ones(4)}, "target"),
    ({"target": [1.0, np.nan, 0.0]}, "target"),
    ({"weights": [1.0, -1.0, 1.0]}, "weights"),
    ({"weights": [1.0, 1.0]}, "weights"),
    ({"linear": [1.0]}, "linear"),
    ({"constraints": [LinearEquality("c", np.ones((1, 3)), [1.0])]}, "constraints['c'].matrix"),
    ({"constraints": [LinearInequality("c", np.ones((2, 2)), [1.0])]}, "constraints['c'].rhs"),
    ({"constraints": [Bounds("b", lower=[2.0, 0.0], upper=1.0)]}, "constraints['b'].lower"),
    ({"constraints": [Simplex("s", indices=[0, 5])]}, "constraints['s'].indices"),
    ({"constraints": [Simplex("s", total=0.0)]}, "constraints['s'].total"),
    ({"constraints": [Simplex("s"), Bounds("s")]}, "constraints"),
    ({"constraints": ["x >= 0"]}, "constraints"),
])
def test_bad_input_names_the_argument(kwargs, field):
    args = {"design": np.eye(3)[:, :2], "target": np.ones(3)} | kwargs
    design, target = args.pop("design"), args.pop("target")
    with pytest.raises(ConfigError) as caught:
        solve_least_squares(design, target, **args)
    assert caught.value.field == field


def test_bad_config_and_unknown_solver_raise_config_errors():
    with pytest.raises(ConfigError, match="tolerance"):
        QPConfig(tolerance=0.0)
    with pytest.raises(ConfigError, match="max_iterations"):
        QPConfig(max_iterations=0)
    with pytest.raises(ConfigError, match="CLARABEL") as caught:
        solve_least_squares(np.eye(2), np.ones(2), config=QPConfig(solver="no_such_solver"))
    assert caught.value.field == "solver"


def solve_random_constrained(config):
    rng = np.random.default_rng(9)
    sets = [Simplex(), LinearInequality("ineq", rng.normal(size=(3, 10)), -0.1 * np.ones(3))]
    return solve_least_squares(rng.normal(size=(30, 10)), rng.normal(size=30),
                               constraints=sets, config=config)


def test_a_solver_stopped_early_raises_instead_of_returning_its_point():
    with pytest.raises(QPSolverError, match="user_limit"):
        solve_random_constrained(QPConfig(max_iterations=2, polish=False))


@pytest.mark.skipif("OSQP" not in available_solvers(), reason="OSQP not installed")
def test_a_point_violating_a_set_beyond_tolerance_raises_naming_it():
    loose = QPConfig(solver="OSQP", tolerance=1e-3, feasibility_tolerance=1e-12, polish=False,
                     solver_options=(("polishing", False),))
    with pytest.raises(QPSolverError, match="violating constraint set"):
        solve_random_constrained(loose)
    polished = solve_random_constrained(QPConfig(solver="OSQP", tolerance=1e-3))
    exact = solve_random_constrained(QPConfig())
    np.testing.assert_allclose(polished.x, exact.x, atol=1e-8)
