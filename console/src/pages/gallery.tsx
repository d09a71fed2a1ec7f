// Gallery: recent stored images with prompt, model and cost; filtered by key, model and date.
// Images past retention are deleted and no longer listed.

import { useState } from 'preact/hooks';
import { usd, when, type Session } from '../api.js';
import { ErrorMessage, Field, useLoad } from '../ui.js';

export function GalleryPage({ session }: { session: Session }) {
  const [key, setKey] = useState('');
  const [model, setModel] = useState('');
  const [from, setFrom] = useState('');
  const [query, setQuery] = useState('');
  const gallery = useLoad<any>(`/gallery?limit=60${query}`, 15_000);
  const apply = (event: Event) => {
    event.preventDefault();
    setQuery(
      Object.entries({ key, model, from })
        .filter(([, value]) => value.trim() !== '')
        .map(([name, value]) => `&${name}=${encodeURIComponent(value.trim())}`)
        .join(''),
    );
  };
  const items: any[] = gallery.data?.data ?? [];
  return (
    <div>
      <form class="inline" aria-label="Filters" onSubmit={apply}>
        {session.role === 'operator' ? <Field label="Key id" value={key} onInput={setKey} /> : null}
        <Field label="Model" value={model} onInput={setModel} />
        <Field label="Since" type="date" value={from} onInput={setFrom} />
        <button type="submit">Apply filters</button>
      </form>
      {gallery.data ? <p class="muted">Images are kept for {gallery.data.retention_hours} hours, then deleted.</p> : null}
      <ErrorMessage error={gallery.error} />
      {items.length === 0 && gallery.data ? <p>No stored images yet. Images answered as URLs and task results are kept; base64 answers are not.</p> : null}
      <ul class="gallery" aria-label="Images">
        {items.flatMap((item) =>
          item.images
            .filter((image: any) => image.url)
            .map((image: any, index: number) => (
              <li key={`${item.source}-${index}`}>
                <figure>
                  <img src={image.url} alt={item.prompt ?? `image from ${item.source}`} loading="lazy" />
                  <figcaption>
                    <span class="prompt-cell">{item.prompt ?? '(no prompt)'}</span>
                    <small>
                      {item.model} · {usd(item.amount)} · {when(item.created_at)}
                      {session.role === 'operator' ? ` · ${item.key_id}` : ''}
                    </small>
                  </figcaption>
                </figure>
              </li>
            )),
        )}
      </ul>
    </div>
  );
}
