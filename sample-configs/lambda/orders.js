// A Node.js function taking the POST body as its event (KrakenD's non-GET payload).
exports.handler = async (event) => {
  console.log("orders", JSON.stringify(event));
  const lines = Array.isArray(event.lines) ? event.lines : [];
  const total = lines.reduce((sum, l) => sum + (Number(l.qty) || 0) * (Number(l.price) || 0), 0);
  return { order: { customer: event.customer || null, lines: lines.length, total }, status: "accepted" };
};
