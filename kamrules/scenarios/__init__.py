"""Scenarios: an account or a portfolio over periods, simulated through the rules, with expectations as tests."""

from kamrules.scenarios.expect import Outcome, TestReport, check, run_tests
from kamrules.scenarios.model import Change, Distribution, Expectation, Scenario, Step
from kamrules.scenarios.montecarlo import DEFAULT_TARGET, MonteCarlo, monte_carlo
from kamrules.scenarios.simulate import Clamp, PortfolioStepResult, StepResult, Timeline, simulate
from kamrules.scenarios.spec import DEFAULT_RULES, load_scenario, load_scenarios

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_TARGET",
    "Change",
    "Clamp",
    "Distribution",
    "Expectation",
    "MonteCarlo",
    "Outcome",
    "PortfolioStepResult",
    "Scenario",
    "Step",
    "StepResult",
    "TestReport",
    "Timeline",
    "check",
    "load_scenario",
    "load_scenarios",
    "monte_carlo",
    "run_tests",
    "simulate",
]
