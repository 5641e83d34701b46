/** A GitLab user, as the stand-ins show one (notes' and merge requests' authors, `GET /user`). */
export type GitLabUser = { id: number; username: string; name: string };

/** Answers a request: JSON unless `contentType` says otherwise, with extra `headers`. */
export type Reply = (
  status: number,
  value: unknown,
  contentType?: string,
  headers?: Record<string, string>,
) => void;
