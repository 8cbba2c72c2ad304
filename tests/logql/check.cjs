// Reads a JSON array of LogQL expressions on stdin; prints, for each, the positions of the
// grammar's error nodes (the lezer parser never throws: a bad expression yields error nodes).
const { parser } = require("@grafana/lezer-logql");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = input.map((expr) => {
  const errors = [];
  parser.parse(expr).iterate({ enter: (n) => { if (n.type.isError) errors.push(n.from); } });
  return { expr, errors };
});
process.stdout.write(JSON.stringify(out));
