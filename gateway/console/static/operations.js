// The GraphQL operations a reviewer sends (docs/PROTOCOL.md §5); the same as `gateway review`.
// No operation selects anything about a subject but its gateway id: reviewers never receive data.

const REQUEST = `id status authorityId caseReference court jurisdiction legalBasis offenseCategory courtOrderSha256
  fields dataWindow { from until } justification emergency createdAt rejectionReason orderIds
  resolvedSubjectIds unresolvedSelectors version withdrawalReason clarifications { kind at text version by }
  versions { version createdAt changes { field before after } subjectsAdded subjectsRemoved }`;
const ORDER = `id status authorityId requestId fields subjectIds dataWindow { from until } validUntil maxQueries
  queriesUsed approvals approvalsRequired revokedReason document`;

export const WHOAMI = "query Whoami { whoami { id role name keyId } }";
export const REQUESTS = `query Requests { requests { ${REQUEST} } }`;
export const REQUEST_BY_ID = `query RequestById($id: ID!) { requestById(id: $id) { ${REQUEST} } }`;
export const ORDERS = `query Orders { orders { ${ORDER} } }`;
export const ORDER_BY_ID = `query OrderById($id: ID!) { orderById(id: $id) { ${ORDER} } }`;
export const DRAFT_ORDER = `mutation DraftOrder($input: DraftOrderInput!) { draftOrder(input: $input) { ${ORDER} } }`;
export const APPROVE_ORDER = `mutation ApproveOrder($orderId: ID!, $signature: String!) {
  approveOrder(orderId: $orderId, signature: $signature) { ${ORDER} } }`;
export const REJECT_REQUEST = `mutation RejectRequest($requestId: ID!, $reason: String!) {
  rejectRequest(requestId: $requestId, reason: $reason) { ${REQUEST} } }`;
export const REVOKE_ORDER = `mutation RevokeOrder($orderId: ID!, $reason: String!) {
  revokeOrder(orderId: $orderId, reason: $reason) { ${ORDER} } }`;
export const REQUEST_CLARIFICATION = `mutation RequestClarification($requestId: ID!, $question: String!) {
  requestClarification(requestId: $requestId, question: $question) { ${REQUEST} } }`;
