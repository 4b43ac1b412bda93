"""The lean executor gives graphql-core 2's results and errors, field for field (execution.py)."""

from __future__ import annotations

import json
import logging

import graphene
import pytest
from graphql import parse
from graphql.error import GraphQLError, format_error
from graphql.execution import execute as graphql_core_execute
from promise import Promise

from saleor_conveyor.graphql.execution import execute as lean_execute
from saleor_conveyor.graphql.schema import schema as conveyor_schema
from saleor_conveyor.graphql.views import GRAPHIQL_HTML  # noqa: F401  (the module wires the executor)

from .test_profiles import MY_PROFILE, buy

# --- a small schema with every shape the executor handles ---------------------------------


class Named(graphene.Interface):
    name = graphene.String(required=True)


class Dog(graphene.ObjectType):
    class Meta:
        interfaces = (Named,)

    barks = graphene.Boolean()


class Cat(graphene.ObjectType):
    class Meta:
        interfaces = (Named,)

    lives = graphene.Int()


class Pet(graphene.Union):
    class Meta:
        types = (Dog, Cat)


class Color(graphene.Enum):
    RED = "red"
    BLUE = "blue"


class Leaf(graphene.ObjectType):
    value = graphene.Int()
    must = graphene.Int(required=True)
    color = graphene.Field(Color)
    fails = graphene.String()
    deep = graphene.Field(lambda: Leaf)

    @staticmethod
    def resolve_fails(root, info):
        raise ValueError(f"leaf {root['value']} fails")

    @staticmethod
    def resolve_deep(root, info):
        return root.get("deep")


def _dog(name: str) -> Dog:
    return Dog(name=name, barks=True)


class Query(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    number = graphene.Int()
    not_a_number = graphene.Int()
    required_null = graphene.String(required=True)
    leaves = graphene.List(Leaf)
    strict_leaves = graphene.List(graphene.NonNull(Leaf))
    pets = graphene.List(Named)
    union_pets = graphene.List(Pet)
    later = graphene.String()
    rejected = graphene.String()
    not_a_list = graphene.List(graphene.Int)
    color = graphene.Field(Color, pick=graphene.Argument(Color))

    @staticmethod
    def resolve_hello(root, info, name):
        return f"hello {name} at {'.'.join(map(str, info.path))}"

    @staticmethod
    def resolve_number(root, info):
        return 7

    @staticmethod
    def resolve_not_a_number(root, info):
        return "seven"

    @staticmethod
    def resolve_required_null(root, info):
        return None

    @staticmethod
    def resolve_leaves(root, info):
        return [{"value": 1, "must": 1, "color": "red", "deep": {"value": 3, "must": None}}, {"value": 2, "must": None}]

    @staticmethod
    def resolve_strict_leaves(root, info):
        return [{"value": 1, "must": 1}, {"value": 2, "must": None}]

    @staticmethod
    def resolve_pets(root, info):
        return [_dog("rex"), Cat(name="tom", lives=9)]

    @staticmethod
    def resolve_union_pets(root, info):
        return [Cat(name="kit", lives=3), _dog("fido")]

    @staticmethod
    def resolve_later(root, info):
        return Promise.resolve("resolved later")

    @staticmethod
    def resolve_rejected(root, info):
        return Promise.reject(ValueError("rejected later"))

    @staticmethod
    def resolve_not_a_list(root, info):
        return 5

    @staticmethod
    def resolve_color(root, info, pick=None):
        return pick or "blue"


class Order(graphene.Mutation):
    class Arguments:
        step = graphene.Int(required=True)

    seen = graphene.List(graphene.Int)

    @classmethod
    def mutate(cls, root, info, step):
        log = info.context.setdefault("steps", [])
        log.append(step)
        if step == 2:
            raise ValueError("step 2 fails")
        return cls(seen=list(log))


class Mutation(graphene.ObjectType):
    order = Order.Field()


shapes = graphene.Schema(query=Query, mutation=Mutation, types=[Dog, Cat])

SHAPE_QUERIES = [
    ("{ hello number __typename }", None),
    ('{ a: hello(name: "x") b: hello(name: $n) }', None),
    ("query($n: String) { a: hello(name: $n) b: hello }", {"n": "var"}),
    ("{ notANumber requiredNull hello }", None),
    ("{ hello leaves { value must color fails deep { value must } } }", None),
    ("{ strictLeaves { value must } hello }", None),
    # Objects of leaves only take a short path; a failing resolver or a null in a non-null leaf falls back.
    ("{ leaves { value fails __typename } }", None),
    ("{ leaves { value must } }", None),
    ("{ leaves { deep { must value } } }", None),
    ("{ pets { name __typename ... on Dog { barks } ... on Cat { lives } } }", None),
    ("{ unionPets { __typename ... on Named { name } ... on Cat { lives } } }", None),
    ("{ later rejected }", None),
    ("{ notAList }", None),
    ("{ color red: color(pick: RED) }", None),
    (
        "query($skip: Boolean!, $with: Boolean!) { hello @skip(if: $skip) number @include(if: $with) "
        "...F @include(if: $with) } fragment F on Query { leaves { value } }",
        {"skip": True, "with": True},
    ),
    (
        "query($skip: Boolean!, $with: Boolean!) { hello @skip(if: $skip) number @include(if: $with) }",
        {"skip": False, "with": False},
    ),
    ("mutation { one: order(step: 1) { seen } two: order(step: 2) { seen } three: order(step: 3) { seen } }", None),
    ("subscription { hello }", None),
]


def both(schema, query: str, variables=None, context_factory=dict, operation_name=None):
    document = parse(query)
    answers = []
    for execute in (graphql_core_execute, lean_execute):
        context = context_factory()
        try:
            result = execute(
                schema, document, context_value=context, variable_values=variables, operation_name=operation_name
            )
        except GraphQLError as error:
            answers.append(("raised", format_error(error)))
            continue
        except Exception as error:  # graphql-core 2 lets some bad variables through as plain errors
            answers.append(("raised", type(error).__name__, str(error)))
            continue
        errors = [format_error(error) for error in result.errors or []]
        answers.append((json.dumps(result.data), errors, context if isinstance(context, dict) else None))
    return answers


@pytest.mark.parametrize(("query", "variables"), SHAPE_QUERIES)
def test_the_lean_executor_answers_as_graphql_core_does(query, variables, caplog):
    with caplog.at_level(logging.CRITICAL):
        core, lean = both(shapes, query, variables)
    assert lean == core


def test_refused_variables_and_operations_raise_as_in_graphql_core():
    assert both(shapes, "query($n: Int!) { number }", {})[0][0] == "raised"
    core, lean = both(shapes, "query A { number } query B { hello }", operation_name="C")
    assert lean == core and lean[0] == "raised"
    core, lean = both(shapes, "query($n: Int!) { number }", {"n": "x"})
    assert lean == core


# --- the conveyor's schema ------------------------------------------------------------------


class _Request:
    """What resolvers read from the context: the caller (the host's answer is cached on it)."""

    def __init__(self, user):
        self._conveyor_user = user
        self.META = {}


@pytest.mark.django_db
def test_the_conveyor_schema_answers_the_same_with_either_executor(hanako, caplog):
    buy(hanako, 3)
    queries = [
        MY_PROFILE,
        "{ myFanProfile { touchpoints(status: SCHEDULED) { rule status } email customerId unsubscribed } }",
        "{ myReturnRequests { id } }",
        '{ fanProfile(email: "hanako@example.com") { stage } }',
    ]
    for query in queries:
        for user in (hanako, None):
            with caplog.at_level(logging.CRITICAL):
                core, lean = both(conveyor_schema, query, context_factory=lambda user=user: _Request(user))
            assert lean == core, query


def test_introspection_is_the_same_with_either_executor():
    from graphql.utils.introspection_query import introspection_query

    core, lean = both(conveyor_schema, introspection_query)
    assert lean == core and lean[1] == []


def test_a_failing_leaf_resolver_runs_once_and_its_error_has_its_own_path(caplog):
    calls = []

    class Thing(graphene.ObjectType):
        a = graphene.Int()
        bad = graphene.Int()

        def resolve_bad(root, info):
            calls.append(list(info.path))
            raise ValueError("bad leaf")

    class Root(graphene.ObjectType):
        thing = graphene.Field(Thing)

        def resolve_thing(root, info):
            return {"a": 1}

    schema = graphene.Schema(query=Root)
    with caplog.at_level(logging.CRITICAL):
        result = lean_execute(schema, parse("{ thing { a bad } }"))
    assert calls == [["thing", "bad"]]
    assert result.data == {"thing": {"a": 1, "bad": None}}
    assert [error.path for error in result.errors] == [["thing", "bad"]]


# --- the switch, and the versions the lean executor follows --------------------------------

# The lean executor follows graphql-core 2.3.2's executor.py step by step, for graphene 2.1.9's
# default resolvers. Whoever upgrades either re-reads that file against execution.py (or sets
# CONVEYOR_GRAPHQL_EXECUTOR = "graphql-core" and drops the lean one), then updates these pins.
FOLLOWED_VERSIONS = {"graphql-core": "2.3.2", "graphene": "2.1.9"}


@pytest.mark.parametrize("package", sorted(FOLLOWED_VERSIONS))
def test_the_installed_graphql_libraries_are_the_versions_the_lean_executor_follows(package):
    from importlib.metadata import version

    installed = version(package)
    assert installed == FOLLOWED_VERSIONS[package], (
        f"{package} {installed} is installed, but saleor_conveyor/graphql/execution.py follows "
        f"{package} {FOLLOWED_VERSIONS[package]}: compare it with graphql-core's executor.py of the new version "
        "(or run with CONVEYOR_GRAPHQL_EXECUTOR='graphql-core'), then update FOLLOWED_VERSIONS"
    )


def test_the_setting_chooses_the_executor(settings, monkeypatch):
    from graphql.execution import ExecutionResult

    from saleor_conveyor.graphql import execution

    ran = []
    monkeypatch.setattr(execution, "execute", lambda *a, **k: ran.append("lean") or ExecutionResult(data={}))
    monkeypatch.setattr(
        execution, "graphql_core_execute", lambda *a, **k: ran.append("graphql-core") or ExecutionResult(data={})
    )
    document = parse("{ hello }")
    for name in ("lean", "graphql-core"):
        settings.CONVEYOR_GRAPHQL_EXECUTOR = name
        execution.execute_chosen(shapes, document)
    assert ran == ["lean", "graphql-core"]
    settings.CONVEYOR_GRAPHQL_EXECUTOR = "fast"
    with pytest.raises(ValueError, match="CONVEYOR_GRAPHQL_EXECUTOR must be one of lean, graphql-core"):
        execution.executor_name()


def test_under_graphql_core_a_refusal_logs_nothing_and_a_bug_is_logged(caplog):
    from saleor_conveyor.errors import ConveyorError, ErrorCode
    from saleor_conveyor.graphql.execution import execute_with_graphql_core

    class Root(graphene.ObjectType):
        refused = graphene.Int()
        broken = graphene.Int()

        def resolve_refused(root, info):
            raise ConveyorError("not yours", code=ErrorCode.PERMISSION_DENIED)

        def resolve_broken(root, info):
            raise RuntimeError("a bug")

    schema = graphene.Schema(query=Root)
    caplog.set_level(logging.DEBUG)
    result = execute_with_graphql_core(schema, parse("{ a: refused b: refused }"))
    assert [error.message for error in result.errors] == ["not yours", "not yours"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    result = execute_with_graphql_core(schema, parse("{ refused broken }"))
    assert len(result.errors) == 2
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and all("not yours" not in r.getMessage() for r in logged if r.exc_info)
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in logged)
