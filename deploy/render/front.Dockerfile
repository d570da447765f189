# Render's front (render.yaml, polls-front): the nginx image docker-compose.yml's `front`
# runs, with the same template (deploy/nginx.conf.template). Compose mounts the template;
# Render cannot mount files, so it is copied in. front.envsh adapts it to Render when the
# container starts, before the image renders it (docs/deploy.md says what and why).
FROM nginx:1.29-alpine
COPY deploy/nginx.conf.template /etc/nginx/front/nginx.conf.template
COPY deploy/render/front.envsh /docker-entrypoint.d/15-polls-front.envsh
# The entrypoint sources only the .envsh files it may execute.
RUN chmod 0755 /docker-entrypoint.d/15-polls-front.envsh
# The image renders templates/nginx.conf.template into /etc/nginx/nginx.conf.
ENV NGINX_ENVSUBST_OUTPUT_DIR=/etc/nginx
