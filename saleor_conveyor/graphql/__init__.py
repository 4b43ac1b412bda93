"""The conveyor's GraphQL API (graphene 2, like Saleor): schema, types, mutations, the view."""
