"""Groups (docs/groups.md): companies, programmes, teams. Events carry their groups' keys in the
property `$groups`; insights aggregate by a group type (`aggregation` on the query, insights/); this
package lists a type's groups with their figures and properties."""
