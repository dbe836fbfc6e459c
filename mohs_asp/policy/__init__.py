"""The policy pack: its files and dates, the rule model (rule, rule_ast, rulebook, records), its data and
code lists (data, icd10), the loaded policy with its versions (load), the pack an author copies,
and the disk cache the parsed policy and the compiled templates are kept in (disk_cache)."""
