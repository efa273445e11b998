// Node.js test handlers; each logs a line so the emulator answers without its 50 ms log wait.
exports.echo = async (event, context) => {
  console.log("echo", context.functionName);
  return { event, function: context.functionName, runtime: "node" };
};

exports.boom = async () => {
  console.log("boom");
  throw new Error("boom: node");
};

exports.proxy = async (event) => {
  console.log("proxy");
  return {
    statusCode: 201,
    headers: { "content-type": "application/json", "x-runtime": "node" },
    body: JSON.stringify({ created: true, path: event.rawPath || event.path || null }),
  };
};
