"""Apollo Federation composition: subgraph SDL (or a composed supergraph SDL) in, a
``Supergraph`` out.

``compose`` runs named steps, each in its own module, each reading the previous
one's output:

1. ``normalise.parse_subgraph``: each subgraph's SDL to a document (syntax errors
   name the line);
2. ``normalise.normalise``: federation version and directive names (``@link``
   imports, renames, ``federation__`` namespace, Fed 1 bare names), root types
   renamed to ``Query``/``Mutation``/``Subscription``, Fed 1 ``extend type`` of a type
   the subgraph does not define turned into a definition, missing federation
   definitions added, the subgraph's own graphql-core schema built;
3. ``merge.merge``: every user type of every subgraph grouped by name, per-subgraph
   facts read from directives (keys, ``@external``, ``@shareable``, ``@requires``,
   ``@provides``, ``@override``, ``@inaccessible``, ``@interfaceObject``);
4. ``resolve.resolve``: each field's merged type, arguments (``inputs``) and sources;
5. ``rules.validate``: the composition rules, one a module, named after the error
   code it reports (the steps before compute, the rules judge); satisfiability (every
   field reachable by some query path) last;
6. ``client_schema.build_client_schema`` and ``model.build_model``: the API schema
   without federation machinery, and the ownership model the planner reads.

``supergraph_sdl.load_supergraph`` reads an Apollo supergraph SDL (``join__``
directives) into the subgraphs it was composed from and composes them, so both
inputs give the same ``Supergraph``.

Every problem found becomes a ``CompositionIssue``; one ``CompositionError`` carries
all of them.

See https://www.apollographql.com/docs/graphos/schema-design/federated-schemas/reference/directives
and https://www.apollographql.com/docs/graphos/reference/federation/errors
"""

from __future__ import annotations

from gateway.composition.compose import compose, supergraph_hash

__all__ = ["compose", "supergraph_hash"]
