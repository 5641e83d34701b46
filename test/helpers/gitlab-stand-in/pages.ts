// GitLab's offset pagination (api/rest/index.md#offset-based-pagination): `page` and `per_page`
// (default 20, at most 100) pick the slice; the answer carries x-page, x-per-page, x-total,
// x-total-pages, x-next-page, x-prev-page and a Link header. gitbeaker follows `rel="next"` of
// the Link header (it reads only its query), so a list longer than a page must have one.

import type { CheckedRequest } from '../gitlab-contract.ts';

export type Page<T> = { items: T[]; headers: Record<string, string> };

/** The page of `items` the request asks for, with GitLab's pagination headers. */
export function paginate<T>(items: readonly T[], request: CheckedRequest, apiUrl: string): Page<T> {
  const perPage = Math.min(100, Math.max(1, Number(request.query.per_page ?? 20) || 20));
  const totalPages = Math.max(1, Math.ceil(items.length / perPage));
  const page = Math.max(1, Number(request.query.page ?? 1) || 1);
  const headers: Record<string, string> = {
    'x-page': String(page),
    'x-per-page': String(perPage),
    'x-total': String(items.length),
    'x-total-pages': String(totalPages),
    'x-next-page': page < totalPages ? String(page + 1) : '',
    'x-prev-page': page > 1 ? String(page - 1) : '',
  };
  const link = (to: number, rel: string) => {
    const query = new URLSearchParams({
      ...request.query,
      page: String(to),
      per_page: String(perPage),
    });
    return `<${apiUrl}${request.path.replace(/^.*?\/api\/v4/, '')}?${query}>; rel="${rel}"`;
  };
  const links = [
    ...(page > 1 ? [link(page - 1, 'prev')] : []),
    ...(page < totalPages ? [link(page + 1, 'next')] : []),
    link(1, 'first'),
    link(totalPages, 'last'),
  ];
  headers.link = links.join(', ');
  return { items: items.slice((page - 1) * perPage, page * perPage), headers };
}
