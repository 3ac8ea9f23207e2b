"""The git subgraph's GraphQL types (ariadne-graphql-modules) and resolvers.

Resolvers find the service in ``info.context`` (a ``GitContext``). Every
``Repository`` field reads the repository only when it is selected. Arguments are
checked here, at the schema's edge: a ``null`` or out-of-range ``first`` is
``BAD_USER_INPUT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ariadne_graphql_modules import (
    EnumType,
    ObjectType,
    SubscriptionType,
    convert_case,
)
from graphql import GraphQLError, GraphQLResolveInfo

from gateway.transports.base import RequestContext
from subgraphs.federation import federation_directives
from subgraphs.git.errors import BadUserInputError, NotARepositoryError
from subgraphs.git.models import (
    Branch,
    Commit,
    GitHubRepositoryRef,
    Remote,
    SessionRef,
    Status,
)
from subgraphs.git.reads import Diff, FileContent
from subgraphs.git.repository import GitService, Repository
from subgraphs.git.watcher import RepositoryChange, RepositoryWatcher, Subscription

__all__ = [
    "ROOT_TYPES",
    "GitContext",
    "resolve_session_reference",
]


@dataclass(frozen=True, slots=True)
class GitContext:
    """The resolvers' ``context_value``."""

    service: GitService
    watcher: RepositoryWatcher
    request: RequestContext


def _context(info: GraphQLResolveInfo) -> GitContext:
    context = info.context
    assert isinstance(context, GitContext)
    return context


class SignatureType(ObjectType):
    __schema__ = """
    "Who made a commit, and when (ISO 8601 with the original offset)."
    type Signature {
      name: String!
      email: String!
      date: String!
    }
    """


class CommitType(ObjectType):
    __schema__ = """
    type Commit {
      hash: ID!
      shortHash: String!
      author: Signature!
      committer: Signature!
      "The author date (ISO 8601)."
      date: String!
      message: String!
      "The first line of the message."
      subject: String!
      parents: [String!]!
      "Pass it as log(after:) to continue after this commit."
      cursor: String!
    }
    """
    __requires__ = [SignatureType]
    __aliases__ = convert_case


class BranchType(ObjectType):
    __schema__ = """
    type Branch {
      name: String!
      "The commit hash the branch points at."
      commit: String!
      current: Boolean!
      upstream: String
    }
    """


class RemoteType(ObjectType):
    __schema__ = """
    type Remote {
      name: String!
      url: String!
    }
    """


class ChangeKindEnum(EnumType):
    __schema__ = """
    enum ChangeKind {
      ADDED
      MODIFIED
      DELETED
      RENAMED
      COPIED
      TYPE_CHANGED
      UNTRACKED
      CONFLICTED
    }
    """


class FileChangeType(ObjectType):
    __schema__ = """
    type FileChange {
      path: String!
      "The path before a rename or copy."
      originalPath: String
      kind: ChangeKind!
      "The two-letter XY code of git status --porcelain=v2 (e.g. .M, A., UU, ??)."
      code: String!
    }
    """
    __requires__ = [ChangeKindEnum]
    __aliases__ = convert_case


class StatusType(ObjectType):
    __schema__ = """
    type Status {
      "The current branch; null when HEAD is detached."
      branch: String
      "The HEAD commit; null before the first commit."
      head: String
      upstream: String
      ahead: Int
      behind: Int
      clean: Boolean!
      staged: [FileChange!]!
      unstaged: [FileChange!]!
      untracked: [FileChange!]!
      conflicted: [FileChange!]!
      "The status output was longer than max_output_bytes: the lists are partial."
      truncated: Boolean!
    }
    """
    __requires__ = [FileChangeType]


class DiffFileType(ObjectType):
    __schema__ = """
    type DiffFile {
      path: String!
      originalPath: String
      "Lines added; null for a binary file."
      additions: Int
      "Lines deleted; null for a binary file."
      deletions: Int
    }
    """
    __aliases__ = convert_case


class DiffType(ObjectType):
    __schema__ = """
    type Diff {
      "The unified diff."
      patch: String!
      "The diff was longer than max_output_bytes and was cut."
      truncated: Boolean!
      files: [DiffFile!]!
    }
    """
    __requires__ = [DiffFileType]


class FileType(ObjectType):
    __schema__ = """
    type File {
      path: String!
      "The commit read from; null for the working tree."
      rev: String
      size: Int!
      binary: Boolean!
      "UTF-8 text; null for a binary file."
      text: String
      "The file is larger than max_output_bytes: text is its beginning."
      truncated: Boolean!
    }
    """


class GitHubRepositoryType(ObjectType):
    __schema__ = """
    type GitHubRepository @key(fields: "owner name", resolvable: false) {
      owner: String!
      name: String!
    }
    """
    __requires__ = [*federation_directives("key")]


class RepositoryType(ObjectType):
    __schema__ = """
    type Repository {
      "The top of the work tree (a real path)."
      path: String!
      "null when HEAD is detached."
      currentBranch: String
      "null before the first commit."
      head: Commit
      branches: [Branch!]!
      remotes: [Remote!]!
      status: Status!
      "Commits reachable from HEAD, newest first (first: 0..100)."
      log(first: Int = 20, after: String): [Commit!]!
      "Unstaged changes, or staged ones; optionally of one path."
      diff(staged: Boolean = false, path: String): Diff!
      "A file at a revision, or in the working tree when rev is null."
      file(path: String!, rev: String): File
      "The origin remote's repository on github.com, if it is there."
      github: GitHubRepository
    }
    """
    __requires__ = [
        CommitType,
        BranchType,
        RemoteType,
        StatusType,
        DiffType,
        FileType,
        GitHubRepositoryType,
    ]
    __aliases__ = convert_case

    @staticmethod
    def resolve_path(repository: Repository, _info: GraphQLResolveInfo) -> str:
        return str(repository.path)

    @staticmethod
    async def resolve_current_branch(
        repository: Repository, _info: GraphQLResolveInfo
    ) -> str | None:
        return await repository.current_branch()

    @staticmethod
    async def resolve_head(
        repository: Repository, _info: GraphQLResolveInfo
    ) -> Commit | None:
        return await repository.head()

    @staticmethod
    async def resolve_branches(
        repository: Repository, _info: GraphQLResolveInfo
    ) -> list[Branch]:
        return await repository.branches()

    @staticmethod
    async def resolve_remotes(
        repository: Repository, _info: GraphQLResolveInfo
    ) -> list[Remote]:
        return await repository.remotes()

    @staticmethod
    async def resolve_status(
        repository: Repository, _info: GraphQLResolveInfo
    ) -> Status:
        return await repository.status()

    @staticmethod
    async def resolve_log(
        repository: Repository,
        _info: GraphQLResolveInfo,
        first: int | None = 20,
        after: str | None = None,
    ) -> list[Commit]:
        return await repository.log(first, after)

    @staticmethod
    async def resolve_diff(
        repository: Repository,
        _info: GraphQLResolveInfo,
        staged: bool | None = False,
        path: str | None = None,
    ) -> Diff:
        return await repository.diff(bool(staged), path)

    @staticmethod
    async def resolve_file(
        repository: Repository,
        _info: GraphQLResolveInfo,
        path: str,
        rev: str | None = None,
    ) -> FileContent | None:
        return await repository.file(path, rev)

    @staticmethod
    async def resolve_github(
        repository: Repository, _info: GraphQLResolveInfo
    ) -> GitHubRepositoryRef | None:
        return await repository.github()


class SessionType(ObjectType):
    __schema__ = """
    type Session @key(fields: "id") {
      id: ID!
      workingDirectory: String! @external
      \"\"\"
      The repository of the session's working directory; null when that
      directory is not in a git work tree (FORBIDDEN_PATH outside the roots).
      \"\"\"
      repository: Repository @requires(fields: "workingDirectory")
    }
    """
    __requires__ = [
        RepositoryType,
        *federation_directives("key", "external", "requires"),
    ]
    __aliases__ = convert_case

    @staticmethod
    async def resolve_repository(
        session: SessionRef, info: GraphQLResolveInfo
    ) -> Repository | None:
        try:
            return await _context(info).service.open(session.working_directory)
        except NotARepositoryError:
            return None


def resolve_session_reference(
    representation: dict[str, Any], _info: GraphQLResolveInfo
) -> SessionRef:
    """``_entities`` for ``Session``: the gateway sends ``id`` and, for
    ``repository``, the required ``workingDirectory``."""
    session_id = representation.get("id")
    directory = representation.get("workingDirectory")
    if not isinstance(session_id, str | int):
        raise BadUserInputError("a Session representation needs its id")
    if not isinstance(directory, str) or not directory:
        raise BadUserInputError(
            "a Session representation needs workingDirectory (@requires)"
        )
    return SessionRef(id=str(session_id), working_directory=directory)


class RepositoryPartEnum(EnumType):
    __schema__ = """
    enum RepositoryPart {
      HEAD
      INDEX
      WORKTREE
    }
    """


class RepositoryChangeType(ObjectType):
    __schema__ = """
    type RepositoryChange {
      repository: Repository!
      "What changed since the previous event (or since the subscription began)."
      parts: [RepositoryPart!]!
      "A digest of HEAD, index and working tree: equal digests, equal states."
      fingerprint: String!
      "The HEAD commit after the change; null before the first commit."
      head: String
      "The current branch after the change; null when detached."
      branch: String
    }
    """
    __requires__ = [RepositoryType, RepositoryPartEnum]

    @staticmethod
    def resolve_fingerprint(change: RepositoryChange, _info: GraphQLResolveInfo) -> str:
        return change.fingerprint.digest


class QueryType(ObjectType):
    __schema__ = """
    type Query {
      \"\"\"
      A repository under the configured roots; path defaults to the first root,
      relative paths start there.
      \"\"\"
      repository(path: String): Repository
    }
    """
    __requires__ = [RepositoryType]

    @staticmethod
    async def resolve_repository(
        _root: Any, info: GraphQLResolveInfo, path: str | None = None
    ) -> Repository:
        return await _context(info).service.open(path)


class RepositorySubscriptionType(SubscriptionType):
    __schema__ = """
    type Subscription {
      "Emits when HEAD, the index or the working tree of the repository changes."
      repositoryChanged(path: String): RepositoryChange!
    }
    """
    __requires__ = [RepositoryChangeType]
    __aliases__ = convert_case

    @staticmethod
    async def subscribe_repository_changed(
        _root: Any, info: GraphQLResolveInfo, path: str | None = None
    ) -> Subscription:
        context = _context(info)
        repository = await context.service.open(path)
        return await context.watcher.subscribe(repository)

    @staticmethod
    def resolve_repository_changed(
        event: RepositoryChange | GraphQLError,
        _info: GraphQLResolveInfo,
        path: str | None = None,
    ) -> RepositoryChange:
        if isinstance(event, GraphQLError):
            raise event
        return event


ROOT_TYPES = (QueryType, RepositorySubscriptionType, SessionType)
"""What ``make_federated_schema`` is given: everything else is required by these."""
