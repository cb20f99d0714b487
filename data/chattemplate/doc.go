// Package chattemplate renders a model's own Jinja chat template
// (tokenizer_config.json's chat_template, GGUF's tokenizer.chat_template).
//
// It is a small interpreter for the part of Jinja that real chat templates
// use, with the environment transformers renders them in (trim_blocks,
// lstrip_blocks, one trailing newline dropped): text, {{ }} output, {# #}
// comments and whitespace control ("{%-", "-}}"); statements if/elif/else,
// for (with "else", an inline "if", tuple unpacking and loop.index/index0/
// first/last/length/revindex/previtem/nextitem), set (names, namespace
// attributes, unpacking, block form), macro, break/continue and the no-op
// generation markers; expressions with Python's operators, precedence and
// truth values, literals (str, int, float, list, dict, tuple), attribute and
// item access, slices ([::-1]), calls with keyword arguments, filters and
// "is" tests. Globals: namespace, raise_exception, range, strftime_now.
// Python str and dict methods (strip/lstrip/rstrip with chars, split,
// startswith/endswith with tuples, replace, join, get, items, keys, values).
// Filters: tojson (transformers': ensure_ascii off, key order kept), trim,
// length/count, first, last, items, dictsort, join, list, reverse, default,
// replace, upper, lower, title, capitalize, string, int, float, abs, indent,
// unique, sort, map, select/reject, selectattr/rejectattr, safe.
//
// Values are nil (None), Undefined, bool, int64, float64, string, []Value
// and *Dict (ordered); FromJSON decodes JSON into them keeping key order, so
// tool-call arguments re-serialize as given. Missing attributes and items
// are Undefined (rendered as ""), as in Jinja's default mode.
//
// Rendering is bounded (steps, output size, range length, macro depth), so a
// hostile template fails with an error instead of exhausting the machine.
// raise_exception returns a *TemplateError carrying the template's message.
//
// Verified against @huggingface/jinja (the engine transformers.js uses) on
// the real Qwen3 and Llama 3 templates. Where that engine departs from
// Python's Jinja, this one follows Python (transformers renders with it):
// str.strip(chars) strips only chars (@huggingface/jinja ignores the
// argument), booleans and None print as True/False/None.
package chattemplate
